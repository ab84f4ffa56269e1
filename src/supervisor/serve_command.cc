// wsgi-fpm serve: zero-config mode, like mod_wsgi-express start-server.
#include "supervisor/serve_command.h"

#include <cstring>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <charconv>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <map>

#include "supervisor/log_sink.h"
#include "supervisor/pool.h"
#include "supervisor/worker_environment.h"
#include "util/log.h"
#include "util/users.h"

namespace wsgi_fpm::supervisor {
namespace {

constexpr const char* kUsage = R"(usage: wsgi-fpm serve SCRIPT [options]

Serves one WSGI script as one pool, in the foreground, until SIGTERM or SIGINT
(in-flight requests finish first).

options:
  --listen ADDR            /path.sock, unix:/path.sock, 127.0.0.1:9000 or [::1]:9000
                           (default 127.0.0.1:9000)
  --protocol P             fastcgi (default) or scgi
  --processes N            worker processes (default 1; giving it makes
                           wsgi.multiprocess True, as in mod_wsgi)
  --threads N              request threads per process (default 15)
  --callable NAME          the WSGI callable in SCRIPT (default application)
  --mount PREFIX           the URL prefix the app is mounted at (default /)
  --name NAME              the process group's name (default: SCRIPT's basename)
  --user USER              run workers as USER (as root; default: SCRIPT's owner)
  --group GROUP            and GROUP (default: USER's primary group)
  --allow-root             allow workers to run as root
  --socket-user USER       owner of a UNIX socket (default: the workers' user)
  --socket-group GROUP     its group (default: the workers' group)
  --socket-mode MODE       its mode (default 0660)
  --limit-request-body N   bytes; larger bodies get 413 (default: no limit)
  --header-buffer-size N   bytes of response headers allowed (default 32768)
  --request-header-limit N bytes of request parameters allowed (default 65536)
  --socket-timeout N       seconds a read or write may block (default 60)
  --request-timeout N      seconds (x (1 + ln threads)) before a running request's
                           stack is logged and the process replaced (default 60)
  --interrupt-timeout N    instead raise RequestTimeout in the request's thread
                           (504), replacing the process only if still stuck N s
                           later (default 0: off)
  --queue-timeout N        requests that waited longer (per the frontend's
                           X-Request-Start) get 504 unrun (default 45; 0: off)
  --graceful-timeout N     seconds for requests to finish when stopping (default 15)
  --shutdown-timeout N     seconds before a stopping worker is killed (default 5)
  --listen-backlog N       the socket's backlog (default 1024)
  --startup-timeout N      seconds a new worker has to become ready (default 15)
  --home DIR               workers' working directory (default: SCRIPT's directory)
  --python-home DIR        a virtualenv to run in
  --python-path DIRS       colon-separated directories added to sys.path
  --application-group G    the sub-interpreter: %{GLOBAL} (default), %{RESOURCE},
                           %{SERVER}, %{HOST}, %{ENV:NAME} or a name
)";

struct ServeArgs {
  std::string script;
  std::map<std::string, std::string> values;
  bool allow_root = false;
};

bool parse_args(int argc, char** argv, ServeArgs& out, std::string& error) {
  static const char* kValued[] = {
      "--listen", "--protocol", "--processes", "--threads", "--callable", "--mount", "--name",
      "--user", "--group", "--socket-user", "--socket-group", "--socket-mode",
      "--limit-request-body", "--header-buffer-size", "--request-header-limit", "--socket-timeout",
      "--graceful-timeout", "--shutdown-timeout", "--listen-backlog", "--home", "--python-home",
      "--python-path", "--application-group", "--queue-timeout", "--request-timeout",
      "--interrupt-timeout", "--startup-timeout"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--allow-root") {
      out.allow_root = true;
      continue;
    }
    if (a.rfind("--", 0) == 0) {
      std::string value;
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
      }
      bool known = false;
      for (auto* k : kValued) known = known || a == k;
      if (!known) {
        error = "unknown option " + a + " (see wsgi-fpm serve --help)";
        return false;
      }
      if (eq == std::string::npos) {
        if (i + 1 >= argc) {
          error = a + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      out.values[a] = value;
      continue;
    }
    if (!out.script.empty()) {
      error = "more than one SCRIPT given: " + out.script + " and " + a;
      return false;
    }
    out.script = a;
  }
  if (out.script.empty()) {
    error = "no SCRIPT given";
    return false;
  }
  return true;
}

template <typename T>
bool number(const ServeArgs& args, const char* key, T& out, T min, T max, std::string& error) {
  auto it = args.values.find(key);
  if (it == args.values.end()) return true;
  T value{};
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc() || end != it->second.data() + it->second.size() || value < min || value > max) {
    error = std::string(key) + ": '" + it->second + "' is not a number from " + std::to_string(min) +
            " to " + std::to_string(max);
    return false;
  }
  out = value;
  return true;
}

std::string get(const ServeArgs& args, const char* key, std::string fallback = {}) {
  auto it = args.values.find(key);
  return it == args.values.end() ? fallback : it->second;
}

bool build_spec(const ServeArgs& args, PoolSpec& spec, std::string& error) {
  char resolved[PATH_MAX];
  if (!realpath(args.script.c_str(), resolved)) {
    error = "cannot find SCRIPT " + args.script + ": " + std::strerror(errno);
    return false;
  }
  std::string script = resolved;
  struct stat st;
  if (stat(script.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    error = script + " is not a regular file";
    return false;
  }
  std::string base = script.substr(script.rfind('/') + 1);
  spec.name = get(args, "--name", base.substr(0, base.find('.')));

  std::string addr_error;
  auto addr = parse_address(get(args, "--listen", "127.0.0.1:9000"), addr_error);
  if (!addr) {
    error = "--listen: " + addr_error;
    return false;
  }
  spec.listen = *addr;

  // Who the workers run as.
  std::optional<Account> user;
  bool root = geteuid() == 0;
  if (root) {
    if (args.values.count("--user")) {
      user = find_user(get(args, "--user"));
      if (!user) {
        error = "--user: no such user '" + get(args, "--user") + "'";
        return false;
      }
    } else {
      user = find_user(st.st_uid);
      if (!user) {
        error = "the owner (uid " + std::to_string(st.st_uid) + ") of " + script + " has no account; give --user";
        return false;
      }
    }
    if (user->uid == 0 && !args.allow_root) {
      error = script + " is owned by root: give --user USER to run it as USER, or --allow-root";
      return false;
    }
  } else {
    user = find_user(geteuid());
    if (!user) user = Account{"nobody", geteuid(), getegid(), "/"};
    if (args.values.count("--user") && get(args, "--user") != user->name) {
      error = "--user " + get(args, "--user") + ": only root can run workers as another user";
      return false;
    }
  }
  gid_t gid = user->gid;
  if (args.values.count("--group")) {
    auto g = find_group(get(args, "--group"));
    if (!g) {
      error = "--group: no such group '" + get(args, "--group") + "'";
      return false;
    }
    gid = *g;
  }
  auto& w = spec.worker;
  if (root) {
    w.uid = user->uid;
    w.gid = gid;
    w.groups = groups_of(*user);
  }
  spec.socket_owner.uid = user->uid;
  spec.socket_owner.gid = gid;
  if (args.values.count("--socket-user")) {
    auto su = find_user(get(args, "--socket-user"));
    if (!su) {
      error = "--socket-user: no such user '" + get(args, "--socket-user") + "'";
      return false;
    }
    spec.socket_owner.uid = su->uid;
  }
  if (args.values.count("--socket-group")) {
    auto sg = find_group(get(args, "--socket-group"));
    if (!sg) {
      error = "--socket-group: no such group '" + get(args, "--socket-group") + "'";
      return false;
    }
    spec.socket_owner.gid = *sg;
  }
  if (!root) spec.socket_owner.uid = static_cast<uid_t>(-1), spec.socket_owner.gid = static_cast<gid_t>(-1);
  std::string mode_text = get(args, "--socket-mode", "0660");
  unsigned mode = 0;
  auto [end, ec] = std::from_chars(mode_text.data(), mode_text.data() + mode_text.size(), mode, 8);
  if (ec != std::errc() || end != mode_text.data() + mode_text.size() || mode > 0777) {
    error = "--socket-mode: '" + mode_text + "' is not an octal mode like 0660";
    return false;
  }
  spec.socket_owner.mode = static_cast<mode_t>(mode);

  w.pool = spec.name;
  w.protocol = get(args, "--protocol", "fastcgi");
  if (w.protocol != "fastcgi" && w.protocol != "scgi") {
    error = "--protocol: '" + w.protocol + "' is not fastcgi or scgi";
    return false;
  }
  w.multiprocess = args.values.count("--processes") > 0;
  if (!number(args, "--processes", spec.processes, 1, 1000, error) ||
      !number(args, "--threads", w.threads, 1, 10000, error) ||
      !number(args, "--limit-request-body", w.limit_request_body, std::uint64_t{0}, UINT64_MAX, error) ||
      !number(args, "--header-buffer-size", w.header_buffer_size, std::size_t{1024}, std::size_t{1} << 30, error) ||
      !number(args, "--request-header-limit", w.request_header_limit, std::size_t{1024}, std::size_t{1} << 30, error) ||
      !number(args, "--socket-timeout", w.socket_timeout, 1, 86400, error) ||
      !number(args, "--queue-timeout", w.queue_timeout, 0, 86400, error) ||
      !number(args, "--request-timeout", w.request_timeout, 0, 86400, error) ||
      !number(args, "--interrupt-timeout", w.interrupt_timeout, 0, 86400, error) ||
      !number(args, "--graceful-timeout", w.graceful_timeout, 0, 86400, error) ||
      !number(args, "--shutdown-timeout", spec.shutdown_timeout, 0, 86400, error) ||
      !number(args, "--listen-backlog", spec.listen_backlog, 1, 65535, error) ||
      !number(args, "--startup-timeout", spec.startup_timeout, 0, 86400, error))
    return false;
  w.shutdown_timeout = spec.shutdown_timeout;
  // A worker stopping for good has shutdown-timeout before the supervisor
  // kills it; finish requests within that.
  w.graceful_timeout = std::min(w.graceful_timeout, spec.shutdown_timeout);
  w.home = get(args, "--home", script.substr(0, script.rfind('/')));
  if (w.home.empty()) w.home = "/";
  w.python_home = get(args, "--python-home");
  if (args.values.count("--python-path")) {
    std::string paths = get(args, "--python-path");
    size_t at = 0;
    while (at <= paths.size()) {
      auto colon = paths.find(':', at);
      auto part = paths.substr(at, colon == std::string::npos ? std::string::npos : colon - at);
      if (!part.empty()) w.python_path.push_back(part);
      if (colon == std::string::npos) break;
      at = colon + 1;
    }
  }
  worker::AppOptions app;
  app.mount = get(args, "--mount", "/");
  if (app.mount.empty() || app.mount[0] != '/') {
    error = "--mount: '" + app.mount + "' must start with /";
    return false;
  }
  app.script = script;
  app.callable = get(args, "--callable", "application");
  // One script, one interpreter: the main one, loaded at start, as
  // mod_wsgi-express does.
  app.application_group = get(args, "--application-group", "%{GLOBAL}");
  app.preload = true;
  w.apps.push_back(app);
  spec.worker_executable = find_worker_executable();
  spec.user_name = user->name;
  spec.graceful_timeout = w.graceful_timeout;
  spec.eviction_timeout = w.eviction_timeout = w.graceful_timeout;
  spec.deadlock_timeout = w.deadlock_timeout = 60;  // mod_wsgi-express's
  spec.scripts = {script};
  spec.environment = worker_environment(*user, "C.UTF-8", "C.UTF-8", {});
  return true;
}

struct ServeState {
  Pool* pool = nullptr;
  bool stopping = false;
  uv_signal_t sigterm, sigint;
};

void on_stop_signal(uv_signal_t* handle, int signum) {
  auto* state = static_cast<ServeState*>(handle->data);
  if (state->stopping) return;
  state->stopping = true;
  log::info("received {}: stopping gracefully", signum == SIGINT ? "SIGINT" : "SIGTERM");
  state->pool->stop([state] {
    uv_close(reinterpret_cast<uv_handle_t*>(&state->sigterm), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&state->sigint), nullptr);
  });
}

}  // namespace

int serve_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::cout << kUsage;
      return 0;
    }
  }
  ServeArgs args;
  std::string error;
  if (!parse_args(argc, argv, args, error)) {
    std::cerr << "wsgi-fpm serve: " << error << "\n";
    return 2;
  }
  PoolSpec spec;
  if (!build_spec(args, spec, error)) {
    std::cerr << "wsgi-fpm serve: " << error << "\n";
    return 1;
  }
  log::set_source("wsgi-fpm");
  uv_loop_t* loop = uv_default_loop();
  std::string log_error;
  auto log_sink = LogSink::open("stderr", log_error);
  Pool pool(loop, std::move(spec), log_sink);
  ServeState state;
  state.pool = &pool;
  uv_signal_init(loop, &state.sigterm);
  uv_signal_init(loop, &state.sigint);
  state.sigterm.data = state.sigint.data = &state;
  uv_signal_start(&state.sigterm, on_stop_signal, SIGTERM);
  uv_signal_start(&state.sigint, on_stop_signal, SIGINT);
  signal(SIGPIPE, SIG_IGN);
  if (!pool.start(error)) {
    std::cerr << "wsgi-fpm serve: " << error << "\n";
    return 1;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  log::info("stopped");
  return 0;
}

}  // namespace wsgi_fpm::supervisor
