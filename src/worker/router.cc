#include "worker/router.h"

#include <algorithm>

#include "protocol/cgi_response.h"
#include "protocol/request_path.h"
#include "python/gil.h"
#include "util/log.h"

namespace wsgi_fpm::worker {
namespace {

void respond(Connection& conn, int code, std::string_view reason) {
  std::string response = protocol::error_response(code, reason);
  std::string_view piece = response;
  conn.write({&piece, 1}, true);
}

}  // namespace

Router::Router(const WorkerOptions& o) : limit_request_body_(o.limit_request_body) {
  for (const auto& a : o.apps) {
    python::ApplicationConfig c;
    c.script = a.script;
    c.callable = a.callable;
    c.mount = a.mount;
    c.header_buffer_size = o.header_buffer_size;
    c.environ.process_group = o.pool;
    c.environ.application_group = a.application_group;
    c.environ.script_filename = a.script;
    c.environ.multithread = o.threads > 1;
    c.environ.multiprocess = o.multiprocess;
    apps_.push_back(std::make_unique<python::Application>(std::move(c)));
  }
  std::stable_sort(apps_.begin(), apps_.end(), [](const auto& x, const auto& y) {
    return x->config().mount.size() > y->config().mount.size();
  });
}

void Router::preload(PyThreadState* state) {
  python::GilHold gil(state);
  for (auto& app : apps_) app->ensure_loaded();
}

void Router::unload(PyThreadState* state) {
  python::GilHold gil(state);
  apps_.clear();
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

  for (auto& app : apps_) {
    auto split = protocol::split_at_mount(path, app->config().mount);
    if (!split) continue;
    split->query_string = std::move(query);
    std::string label = std::string(params.get_or("REQUEST_METHOD", "GET")) + " " +
                        (uri.empty() ? path : uri);
    python::GilHold gil(thread.get());
    if (!app->ensure_loaded()) {
      python::GilRelease unlocked;
      respond(conn, 500, "Internal Server Error");
      return;
    }
    app->handle(conn, *split, label);
    return;
  }
  respond(conn, 404, "Not Found");
}

}  // namespace wsgi_fpm::worker
