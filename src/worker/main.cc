// wsgi-fpm-worker: one process of a pool. Started by the supervisor with the
// pool's listening socket as fd 3; never started by hand.
//
// Order matters: privileges are dropped before Python exists, signals are
// blocked before any thread exists (so only sigwait sees them), and Python is
// finalized only after every request thread has let go of it.
#include <cstring>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "python/runtime.h"
#include "util/log.h"
#include "worker/dispatcher.h"
#include "worker/fastcgi_connection.h"
#include "worker/options.h"
#include "worker/privileges.h"
#include "worker/process_title.h"
#include "worker/reporter.h"
#include "worker/router.h"
#include "worker/scgi_connection.h"

using namespace wsgi_fpm;

int main(int argc, char** argv) {
  worker::WorkerOptions options;
  std::string error;
  if (!worker::parse_worker_options(argc, argv, options, error)) {
    log::error("wsgi-fpm-worker: {}", error);
    return 2;
  }
  log::set_source(options.pool);
  log::set_bare(options.log_bare);
  if (!options.display_name.empty())
    worker::set_process_title(argc, argv, worker::expand_display_name(options.display_name, options.pool));
  if (!worker::become_pool_user(options, error)) {
    log::error("cannot start a worker: {}", error);
    return 3;
  }
  if (options.umask) umask(*options.umask);
  if (!options.home.empty() && chdir(options.home.c_str()) != 0) {
    log::error("cannot enter home directory {}: {}", options.home, std::strerror(errno));
    return 3;
  }

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&stop_signals, s);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  python::RuntimeOptions runtime;
  runtime.python_home = options.python_home;
  runtime.python_path = options.python_path;
  PyThreadState* main_state = python::start_runtime(runtime, error);
  if (!main_state) {
    log::error("cannot start Python: {}", error);
    return 4;
  }

  python::Interpreters interpreters(options.python_path);
  worker::Router router(options, interpreters);
  {
    python::ThreadState preloading;
    router.preload(preloading);
  }

  worker::ConnectionLimits limits{options.request_header_limit};
  bool scgi = options.protocol == "scgi";
  worker::Dispatcher dispatcher(options.listen_fd, options.socket_timeout,
                                [&](UniqueFd fd) -> std::unique_ptr<worker::Connection> {
                                  if (scgi) return std::make_unique<worker::ScgiConnection>(std::move(fd), limits);
                                  return std::make_unique<worker::FastCgiConnection>(std::move(fd), limits);
                                });
  worker::Reporter reporter(options.threads, options.maximum_requests);
  std::vector<std::thread> threads;
  for (int i = 0; i < options.threads; ++i) {
    threads.emplace_back([&, slot = i] {
      python::ThreadState state;
      dispatcher.run_thread([&](worker::Connection& conn) {
        const auto& params = conn.params();
        reporter.request_started(slot, params.get_or("REQUEST_METHOD", "GET"),
                                 params.get_or("REQUEST_URI", params.get_or("PATH_INFO", "/")));
        router.handle(conn, state);
        reporter.request_finished(slot);
      });
    });
  }
  reporter.ready();
  if (options.apps.size() == 1) {
    log::info("serving {} with {} thread{} ({})", options.apps.front().script, options.threads,
              options.threads == 1 ? "" : "s", options.protocol);
  } else {
    log::info("serving {} applications with {} thread{} ({})", options.apps.size(), options.threads,
              options.threads == 1 ? "" : "s", options.protocol);
  }

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.graceful_timeout);
  reporter.stopping();
  dispatcher.begin_stop();
  if (!dispatcher.wait_drained(deadline)) {
    log::warning("{} connection(s) still busy after graceful-timeout ({} s): exiting anyway",
                 dispatcher.open_connections(), options.graceful_timeout);
    std::_Exit(1);  // Python cannot be finalized under running requests
  }
  dispatcher.release_threads();
  for (auto& t : threads) t.join();
  router.unload(main_state);
  python::finalize_runtime(main_state);
  return 0;
}
