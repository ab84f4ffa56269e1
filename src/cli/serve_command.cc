// wsgi-fpm serve: zero-config mode, like mod_wsgi-express start-server.
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <climits>
#include <iostream>
#include <algorithm>
#include <optional>

#include "cli/commands.h"
#include "cli/serve_config.h"
#include "config/load.h"
#include "config/user_db.h"
#include "supervisor/log_sink.h"
#include "supervisor/pool.h"
#include "supervisor/pool_spec.h"
#include "util/descriptor_limit.h"
#include "util/descriptors.h"
#include "util/log.h"
#include "util/users.h"

namespace wsgi_fpm::cli {
using namespace supervisor;
namespace {

constexpr const char* kUsage = R"(usage: wsgi-fpm serve SCRIPT [--KEY VALUE]...

Serves one WSGI script as one pool, in the foreground, until SIGTERM or SIGINT
(in-flight requests finish first). Every pool key of wsgi-fpm.yaml(5) is an
option, --KEY VALUE or --KEY=VALUE, checked as in the file; these differ from
the file or exist only here:

  --listen ADDR            /path.sock, unix:/path.sock, 127.0.0.1:9000 or [::1]:9000
                           (default 127.0.0.1:9000)
  --name NAME              the process group's name (default: SCRIPT's basename)
  --user USER              run workers as USER (as root; default: SCRIPT's owner)
  --allow-root             allow workers to run as root (a root-owned SCRIPT
                           needs --user or this)
  --home DIR               workers' working directory (default: SCRIPT's directory)
  --processes N            worker processes (default 1; giving it makes
                           wsgi.multiprocess True, as in mod_wsgi)
  --mount PREFIX           the URL prefix the app is mounted at (default /)
  --callable NAME          the WSGI callable in SCRIPT (default application)
  --application-group G    the sub-interpreter: %{GLOBAL} (default here), %{RESOURCE},
                           %{SERVER}, %{HOST}, %{ENV:NAME} or a name
  --preload BOOL           import SCRIPT when a process starts (default true here)
  --preload-fork BOOL      import SCRIPT once and fork the workers from that process
  --python-path DIRS       colon-separated directories added to sys.path
  --supplementary-groups G comma-separated
  --allowed-clients NETS   comma-separated networks (TCP; default loopback)
  --environment NAME=VALUE one variable of the workers' environment; repeatable
  --error-log FILE         the log (default: stderr)

For example: --threads 4 --process-manager ondemand --process-idle-timeout 30
--maximum-requests 1000 --request-timeout 30 --socket-mode 0660.
)";

bool build_spec(const ServeArgs& args, PoolSpec& spec, std::optional<std::string>& error_log,
                std::string& error) {
  char resolved[PATH_MAX];
  if (!realpath(args.script.c_str(), resolved)) {
    error = "cannot find SCRIPT " + args.script + ": " + std::strerror(errno);
    return false;
  }
  ServeDefaults defaults;
  defaults.script = resolved;
  struct stat st;
  if (stat(defaults.script.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    error = defaults.script + " is not a regular file";
    return false;
  }
  std::string base = defaults.script.substr(defaults.script.rfind('/') + 1);
  defaults.name = base.substr(0, base.find('.'));
  defaults.home = defaults.script.substr(0, defaults.script.rfind('/'));
  if (defaults.home.empty()) defaults.home = "/";
  // As root the workers run as the script's owner unless --user says
  // otherwise; a root-owned script needs a word from the operator.
  if (geteuid() == 0 && !args.has("user")) {
    auto owner = find_user(st.st_uid);
    if (!owner) {
      error = "the owner (uid " + std::to_string(st.st_uid) + ") of " + defaults.script + " has no account; give --user";
      return false;
    }
    if (owner->uid == 0 && !args.has("allow-root")) {
      error = defaults.script + " is owned by root: give --user USER to run it as USER, or --allow-root";
      return false;
    }
    defaults.user = owner->name;
  }

  ServeYaml yaml = serve_yaml(args, defaults);
  config::SystemUserDb users;
  auto loaded = config::load_string(yaml.text, "wsgi-fpm serve", users);
  if (!loaded.ok()) {
    for (const auto& d : loaded.errors) error += (error.empty() ? "" : "\n") + serve_message(d, yaml);
    return false;
  }
  const config::Pool& pool = loaded.config->pools.front();
  if (!make_pool_spec(pool, users, spec, error)) return false;
  // A worker stopping for good has shutdown-timeout before serve kills it;
  // finish requests within that.
  spec.worker.graceful_timeout = std::min(spec.worker.graceful_timeout, spec.worker.shutdown_timeout);
  error_log = pool.error_log;
  return true;
}

// SIGTERM or SIGINT: the pool stops gracefully, then the signal watches
// close and the loop ends.
struct ServeState {
  Pool* pool = nullptr;
  bool stopping = false;
  Signal sigterm, sigint;

  void on_stop_signal(const char* name) {
    if (stopping) return;
    stopping = true;
    log::info("received {}: stopping gracefully", name);
    pool->stop([this] {
      sigterm.close();
      sigint.close();
    });
  }
};

}  // namespace

int serve_command(int argc, char** argv) {
  ServeArgs args;
  std::string error;
  bool help = false;
  if (!parse_serve_args(argc, argv, args, error, &help)) {
    if (help) {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "wsgi-fpm serve: " << error << " (see wsgi-fpm serve --help)\n";
    return 2;
  }
  PoolSpec spec;
  std::optional<std::string> error_log;
  if (!build_spec(args, spec, error_log, error)) {
    for (std::size_t at = 0; at <= error.size();) {  // one line per problem, each prefixed
      auto nl = std::min(error.find('\n', at), error.size());
      std::cerr << "wsgi-fpm serve: " << error.substr(at, nl - at) << "\n";
      at = nl + 1;
    }
    return 1;
  }
  log::set_source("wsgi-fpm");
  mark_cloexec_from(3);  // as `run` does (supervisor.cc)
  uv_loop_t* loop = uv_default_loop();
  std::string log_error;
  auto log_sink = LogSink::open(error_log.value_or("stderr"), log_error);
  if (!log_sink) {
    std::cerr << "wsgi-fpm serve: --error-log: " << log_error << "\n";
    return 1;
  }
  Pool pool(loop, std::move(spec), log_sink);
  ServeState state;
  state.pool = &pool;
  if (!state.sigterm.open(loop) || !state.sigint.open(loop) ||
      state.sigterm.start(SIGTERM, [&state] { state.on_stop_signal("SIGTERM"); }) != 0 ||
      state.sigint.start(SIGINT, [&state] { state.on_stop_signal("SIGINT"); }) != 0) {
    std::cerr << "wsgi-fpm serve: cannot watch SIGTERM and SIGINT\n";
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  raise_descriptor_limit();  // as `run` does; the workers keep the limit we had
  if (!pool.start(error)) {
    std::cerr << "wsgi-fpm serve: " << error << "\n";
    return 1;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  log::info("stopped");
  return 0;
}

}  // namespace wsgi_fpm::cli
