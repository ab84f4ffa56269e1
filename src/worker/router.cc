#include "worker/router.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <optional>

#include "protocol/cgi_response.h"
#include "protocol/request_path.h"
#include "python/gil.h"
#include "worker/application_group.h"
#include "worker/crash_report.h"
#include "util/log.h"

namespace wsgi_fpm::worker {
namespace {

void respond(Connection& conn, int code, std::string_view reason) {
  std::string response = protocol::error_response(code, reason);
  std::string_view piece = response;
  conn.write({&piece, 1}, true);
}

// How long the request waited before a thread took it, from the frontend's
// X-Request-Start ("t=MICROSECONDS", as Apache's %t and nginx's $msec give
// it). A thread takes a request the moment its head is read, so the only wait
// is the one before that, which only the frontend's clock saw.
std::optional<double> queued_seconds(const protocol::Params& params) {
  auto header = params.get("HTTP_X_REQUEST_START");
  if (!header) return std::nullopt;
  std::string_view v = *header;
  if (v.starts_with("t=")) v.remove_prefix(2);
  // nginx's $msec is seconds with a fraction; Apache's %t is microseconds.
  double value = 0;
  try {
    value = std::stod(std::string(v));
  } catch (...) {
    return std::nullopt;
  }
  double start = v.find('.') != std::string_view::npos ? value : value / 1e6;
  timeval now;
  gettimeofday(&now, nullptr);
  double waited = static_cast<double>(now.tv_sec) + now.tv_usec / 1e6 - start;
  return waited >= 0 ? std::optional<double>(waited) : std::nullopt;
}

}  // namespace

Router::Router(const WorkerOptions& o, python::Interpreters& interpreters)
    : interpreters_(interpreters),
      limit_request_body_(o.limit_request_body),
      queue_timeout_(o.queue_timeout),
      script_uid_(o.script_uid),
      script_gid_(o.script_gid) {
  std::vector<AppOptions> sorted = o.apps;
  // Longest mount first, so the first match is the most specific.
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& x, const auto& y) { return x.mount.size() > y.mount.size(); });
  for (const auto& a : sorted) {
    group_patterns_.push_back(a.application_group);
    preload_.push_back(a.preload);
    own_gil_.push_back(a.own_gil);
    python::ApplicationConfig c;
    c.script = a.script;
    c.callable = a.callable;
    c.mount = a.mount;
    c.header_buffer_size = o.header_buffer_size;
    c.environ.process_group = o.pool;
    c.environ.script_filename = a.script;
    c.environ.multithread = o.threads > 1;
    c.environ.multiprocess = o.multiprocess;
    apps_.push_back(std::make_unique<python::Application>(std::move(c)));
  }
}

void Router::preload(python::ThreadState& thread, Preload which) {
  for (std::size_t i = 0; i < apps_.size(); ++i) {
    bool fixed = application_group_is_fixed(group_patterns_[i]);
    bool main = fixed && application_group(group_patterns_[i], {}, "").empty();
    if (which == Preload::MainInterpreter && !main) continue;
    if (which == Preload::MarkedInSubInterpreters && main) continue;
    if (which != Preload::MainInterpreter && !preload_[i] && !(own_gil_[i] && fixed)) continue;
    if (!fixed) {
      log::warning("{}: not preloaded: its application-group {} depends on the request (preload needs "
                   "%{{GLOBAL}} or a fixed name, as mod_wsgi's WSGIImportScript does)",
                   apps_[i]->config().script, group_patterns_[i]);
      continue;
    }
    std::string group = application_group(group_patterns_[i], {}, "");
    std::optional<CrashContext> crash_context;
    if (own_gil_[i]) crash_context.emplace("importing", std::string(), apps_[i]->config().script, group);
    PyInterpreterState* interp = interpreters_.get(group, thread, own_gil_[i]);
    if (!interp) continue;
    python::GilHold gil(thread.for_interpreter(interp));
    apps_[i]->ensure_loaded(group);
  }
}

void Router::unload(PyThreadState* main_state) {
  interpreters_.end_all(main_state, [&](PyInterpreterState*) {
    for (auto& app : apps_) app->unload_current();
  });
  python::GilHold gil(main_state);
  apps_.clear();
}

void Router::serve(python::Application& app, const std::string& group, bool own_gil, Connection& conn,
                   const protocol::PathSplit& split, const std::string& label, python::ThreadState& thread) {
  if (script_uid_ || script_gid_) {
    // script-user/script-group: as mod_wsgi, a script owned by anyone else
    // is refused, so a tenant cannot plant code in a shared pool.
    struct stat st;
    const auto& script = app.config().script;
    if (stat(script.c_str(), &st) != 0 || (script_uid_ && st.st_uid != *script_uid_) ||
        (script_gid_ && st.st_gid != *script_gid_)) {
      log::error("{}: refused: not owned by the pool's script-user/script-group", script);
      respond(conn, 403, "Forbidden");
      return;
    }
  }
  std::optional<CrashContext> crash_context;
  if (own_gil) crash_context.emplace("serving", label, app.config().script, group);
  PyInterpreterState* interp = interpreters_.get(group, thread, own_gil);
  if (!interp) {
    respond(conn, 500, "Internal Server Error");
    return;
  }
  python::GilHold gil(thread.for_interpreter(interp));
  if (!app.ensure_loaded(group)) {
    python::GilRelease unlocked;
    respond(conn, 500, "Internal Server Error");
    return;
  }
  app.handle(conn, split, label);
}

void Router::handle(Connection& conn, python::ThreadState& thread) {
  const auto& params = conn.params();
  auto length = protocol::parse_content_length(params.get_or("CONTENT_LENGTH", ""));
  if (!length) {
    respond(conn, 400, "Bad Request");
    return;
  }
  if (limit_request_body_ && *length > limit_request_body_) {
    log::warning("{} {}: body of {} bytes exceeds limit-request-body ({}): 413",
                 params.get_or("REQUEST_METHOD", "?"), params.get_or("REQUEST_URI", "?"), *length,
                 limit_request_body_);
    conn.drain_body();  // a frontend still sending the body would otherwise fail the response
    respond(conn, 413, "Request Entity Too Large");
    return;
  }

  if (queue_timeout_ > 0) {
    if (auto waited = queued_seconds(params); waited && *waited > queue_timeout_) {
      log::warning("{} {}: waited {:.1f} s for a thread, more than queue-timeout ({} s): 504",
                   params.get_or("REQUEST_METHOD", "?"), params.get_or("REQUEST_URI", "?"), *waited,
                   queue_timeout_);
      conn.drain_body();
      respond(conn, 504, "Gateway Timeout");
      return;
    }
  }

  std::string uri(params.get_or("REQUEST_URI", ""));
  std::string path;
  std::string query;
  if (!uri.empty()) {
    path = protocol::decoded_path(uri);
    if (auto q = uri.find('?'); q != std::string::npos) query = uri.substr(q + 1);
  } else {
    // No REQUEST_URI (a bare client): trust the frontend's own split.
    path = std::string(params.get_or("SCRIPT_NAME", "")) + std::string(params.get_or("PATH_INFO", ""));
    query = std::string(params.get_or("QUERY_STRING", ""));
  }
  if (path.empty()) path = "/";

  for (std::size_t i = 0; i < apps_.size(); ++i) {
    auto split = protocol::split_at_mount(path, apps_[i]->config().mount);
    if (!split) continue;
    split->query_string = std::move(query);
    std::string label = std::string(params.get_or("REQUEST_METHOD", "GET")) + " " +
                        (uri.empty() ? path : uri);
    std::string group = application_group(group_patterns_[i], params, split->script_name);
    serve(*apps_[i], group, own_gil_[i], conn, *split, label, thread);
    return;
  }
  respond(conn, 404, "Not Found");
}

}  // namespace wsgi_fpm::worker
