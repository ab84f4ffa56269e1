#include "worker/process_setup.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <clocale>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "python/gil.h"
#include "python/thread_control.h"
#include "util/log.h"
#include "worker/crash_report.h"
#include "worker/fork_template.h"
#include "worker/malloc_tuning.h"
#include "worker/privileges.h"
#include "worker/process_title.h"
#include "worker/resource_limits.h"
#include "wsgi_fpm/worker_exit.h"

namespace wsgi_fpm::worker {

sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&stop_signals, s);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

void take_locale() {
  if (!setlocale(LC_ALL, "")) {
    const char* wanted = getenv("LC_ALL");
    log::warning("locale '{}' is not available on this system; using C", wanted ? wanted : "");
  }
}

int read_command_line(int argc, char** argv, WorkerOptions& options) {
  std::string error;
  if (!parse_worker_options(argc, argv, options, error)) {
    log::error("wsgi-fpm-worker: {}", error);
    return worker_exit::kBadCommandLine;
  }
  for (const auto& app : options.apps) {
    if (app.own_gil && !python::kOwnGilSupported) {
      log::error("wsgi-fpm-worker: --app-own-gil needs Python 3.12 or later; this worker embeds {}", PY_VERSION);
      return worker_exit::kBadCommandLine;
    }
  }
  return 0;
}

std::string name_process(int argc, char** argv, const WorkerOptions& options, bool forked) {
  log::set_source(options.pool);
  log::set_bare(options.log_bare);
  std::string title =
      options.display_name.empty() ? std::string() : expand_display_name(options.display_name, options.pool);
  // (Forked, with no display-name: not the zygote's or a spare's title.)
  set_process_title(argc, argv,
                    options.fork_template && !title.empty() ? title + " template"
                    : title.empty() && forked              ? std::string("wsgi-fpm-worker")
                                                           : title);
  return title;
}

int enter_pool_identity(const WorkerOptions& options) {
  std::string error;
  // A forked worker's parent is still its middle process: it arms the
  // parent-death signal once adopted (finish_adoption).
  bool adopted = !adoption_pending();
  if (!apply_resource_limits(options, error) || !become_pool_user(options, error, adopted)) {
    log::error("cannot start a worker: {}", error);
    return worker_exit::kCannotSetUp;
  }
  if (options.umask) umask(*options.umask);
  if (!options.home.empty() && chdir(options.home.c_str()) != 0) {
    log::error("cannot enter home directory {}: {}", options.home, std::strerror(errno));
    return worker_exit::kCannotSetUp;
  }
  return 0;
}

int start_python(const WorkerOptions& options, const std::vector<std::string>& environment,
                 PyThreadState*& main_state) {
  python::RuntimeOptions runtime;
  runtime.python_home = options.python_home;
  runtime.python_path = options.python_path;
  runtime.switch_interval = options.switch_interval;
  std::string error;
  if (main_state) {
    // The zygote's malloc tuning and locale are the pool's (the supervisor
    // asks it only for pools that would have chosen the same).
    if (!python::settle_forked_runtime(main_state, runtime, environment, error)) {
      log::error("cannot start Python: {}", error);
      return worker_exit::kPythonFailed;
    }
  } else {
    tune_malloc();
    take_locale();
    main_state = python::start_runtime(runtime, error);
    if (!main_state) {
      log::error("cannot start Python: {}", error);
      return worker_exit::kPythonFailed;
    }
  }
  {
    python::GilHold gil(main_state);
    if (!python::make_request_timeout_type(error)) {
      log::error("{}", error);
      return worker_exit::kPythonFailed;
    }
  }
  if (std::any_of(options.apps.begin(), options.apps.end(), [](const auto& a) { return a.own_gil; }))
    install_crash_report();
  return 0;
}

pthread_t start_thread(std::uint64_t stack_size, std::function<void()> body) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (stack_size) pthread_attr_setstacksize(&attr, static_cast<size_t>(stack_size));
  auto* heap = new std::function<void()>(std::move(body));
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, [](void* arg) -> void* {
    std::unique_ptr<std::function<void()>> fn(static_cast<std::function<void()>*>(arg));
    (*fn)();
    return nullptr;
  }, heap);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    log::error("cannot start a request thread: {}", std::strerror(rc));
    std::_Exit(worker_exit::kInternalError);
  }
  return thread;
}

}  // namespace wsgi_fpm::worker
