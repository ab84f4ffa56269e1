// wsgi-fpm-worker: one process of a pool. Started by the supervisor with the
// pool's listening socket as fd 3; never started by hand.
//
// Order matters: descriptors beyond the contract are closed first and the
// contract's moved out of the app's way (worker/contract.h), privileges are
// dropped before Python exists, signals are blocked before any thread exists
// (so only sigtimedwait sees them), and Python is finalized only after every
// request thread has let go of it.
#include <cstring>
#include <clocale>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <cstdlib>
#include <thread>
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "python/runtime.h"
#include "util/log.h"
#include "util/network.h"
#include "util/socket.h"
#include "worker/connection_handoff.h"
#include "worker/contract.h"
#include "worker/dispatcher.h"
#include "worker/fastcgi_connection.h"
#include "worker/fork_template.h"
#include "worker/crash_report.h"
#include "wsgi_fpm/worker_exit.h"
#include "worker/gil_heartbeat.h"
#include "worker/malloc_tuning.h"
#include "worker/resource_limits.h"
#include "worker/options.h"
#include "worker/privileges.h"
#include "worker/process_title.h"
#include "worker/reporter.h"
#include "worker/request_monitor.h"
#include "python/thread_control.h"
#include "python/gil.h"
#include "worker/router.h"
#include "worker/scgi_connection.h"
#include "wsgi_fpm/fork_request.h"
#include "wsgi_fpm/scoreboard.h"

using namespace wsgi_fpm;

namespace {

// std::thread cannot set a stack size, and stack-size asks for one.
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

// SIGTERM and the like: stop, requests get graceful-timeout. SIGUSR2 (the
// supervisor evicting us): the same with eviction-timeout. SIGUSR1 (anyone,
// as to a mod_wsgi daemon process): ask the supervisor for a graceful
// restart. Blocked before any thread exists, so that only sigtimedwait sees
// them.
sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&stop_signals, s);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop_signals;
}

// lang/locale arrive as LANG and LC_ALL; take them before Python starts
// (isolated, it would keep the "C" locale and an ASCII encoding), as
// mod_wsgi's locale option does with setlocale(LC_ALL, ...).
void take_locale() {
  if (!setlocale(LC_ALL, "")) {
    const char* wanted = getenv("LC_ALL");
    log::warning("locale '{}' is not available on this system; using C", wanted ? wanted : "");
  }
}

// The shared zygote (worker/zygote in docs/design.md): Python started as
// root, isolated and without site, no application imported, then fork
// requests served until the supervisor lets it go. Returns only in a worker
// forked from it, still root, with `options` and `environment` its own.
PyThreadState* become_zygote(int argc, char** argv, worker::WorkerOptions& options, worker::Contract& contract,
                             std::vector<std::string>& environment) {
  worker::set_process_title(argc, argv, "wsgi-fpm zygote");
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (options.supervisor_pid && getppid() != options.supervisor_pid) std::_Exit(worker_exit::kCannotSetUp);
  worker::tune_malloc();
  take_locale();
  // site runs here, as root: it reads the system's site-packages and runs
  // their .pth files, root's files that every root python3 (apt's hooks
  // among them) runs too. A virtualenv's, the tenant's, never get here
  // (python-home has no zygote). Done once, it is no forked worker's work:
  // on this machine, 12 ms of copy-on-write faults each (docs/design.md).
  python::RuntimeOptions runtime;
  std::string error;
  PyThreadState* main_state = python::start_runtime(runtime, error);
  if (!main_state) {
    log::error("cannot start Python: {}", error);
    std::_Exit(worker_exit::kPythonFailed);
  }
  {
    // What every worker imports first, so that each forked one finds it
    // done (the standard library's own modules, root's files).
    python::GilHold gil(main_state);
    for (const char* name : {"os", "traceback"}) {
      PyObject* module = PyImport_ImportModule(name);
      if (!module) {
        log::error("cannot import {}: {}", name, python::format_current_exception());
        std::_Exit(worker_exit::kPythonFailed);
      }
      Py_DECREF(module);
    }
    // And what each one makes first: the RequestTimeout type, and a first
    // compile (the parser's and compiler's own first-use set-up), so that
    // a forked worker only looks them up.
    if (!python::make_request_timeout_type(error)) {
      log::error("{}", error);
      std::_Exit(worker_exit::kPythonFailed);
    }
    Py_XDECREF(Py_CompileString("def application(environ, start_response):\n    return [b'']\n", "<zygote>",
                                Py_file_input));
    PyErr_Clear();
  }
  std::optional<CommandLine> request;
  worker::serve_fork_requests(
      options.supervisor_pid, main_state, contract,
      [argc, argv] { worker::set_process_title(argc, argv, "wsgi-fpm spare (zygote)"); }, &request);
  // A worker now. Its command line is read as a spawned worker's argv is.
  std::vector<char*> args{argv[0]};
  for (auto& a : request->arguments) args.push_back(a.data());
  args.push_back(nullptr);
  worker::WorkerOptions own;
  if (!worker::parse_worker_options(static_cast<int>(args.size()) - 1, args.data(), own, error)) {
    log::error("wsgi-fpm-worker (forked by the zygote): {}", error);
    std::_Exit(worker_exit::kBadCommandLine);
  }
  options = std::move(own);
  environment = std::move(request->environment);
  return main_state;
}

}  // namespace

int main(int argc, char** argv) {
  worker::WorkerOptions options;
  std::string error;
  if (!worker::parse_worker_options(argc, argv, options, error)) {
    log::error("wsgi-fpm-worker: {}", error);
    return worker_exit::kBadCommandLine;
  }
  for (const auto& app : options.apps) {
    if (app.own_gil && !python::kOwnGilSupported) {
      log::error("wsgi-fpm-worker: --app-own-gil needs Python 3.12 or later; this worker embeds {}", PY_VERSION);
      return worker_exit::kBadCommandLine;
    }
  }
  worker::Contract contract = worker::Contract::take(options.listen_fd);
  const sigset_t stop_signals = block_stop_signals();
  // Forked from the zygote: Python is running (as root until the privileges
  // below are dropped, and none of it runs until then).
  PyThreadState* main_state = nullptr;
  std::vector<std::string> forked_environment;
  const bool forked_by_zygote = options.zygote;
  if (forked_by_zygote) {
    log::set_source("zygote");
    log::set_bare(options.log_bare);
    main_state = become_zygote(argc, argv, options, contract, forked_environment);
  }
  log::set_source(options.pool);
  log::set_bare(options.log_bare);
  const std::string title =
      options.display_name.empty() ? std::string() : worker::expand_display_name(options.display_name, options.pool);
  // (Forked, with no display-name: not the zygote's or a spare's title.)
  worker::set_process_title(argc, argv,
                            options.fork_template && !title.empty() ? title + " template"
                            : title.empty() && forked_by_zygote      ? std::string("wsgi-fpm-worker")
                                                                     : title);
  // A forked worker's parent is still its middle process: it arms the
  // parent-death signal once adopted (worker::finish_adoption).
  bool adopted = !worker::adoption_pending();
  if (!worker::apply_resource_limits(options, error) || !worker::become_pool_user(options, error, adopted)) {
    log::error("cannot start a worker: {}", error);
    return worker_exit::kCannotSetUp;
  }
  if (options.umask) umask(*options.umask);
  if (!options.home.empty() && chdir(options.home.c_str()) != 0) {
    log::error("cannot enter home directory {}: {}", options.home, std::strerror(errno));
    return worker_exit::kCannotSetUp;
  }

  python::RuntimeOptions runtime;
  runtime.python_home = options.python_home;
  runtime.python_path = options.python_path;
  runtime.switch_interval = options.switch_interval;
  if (main_state) {
    // The zygote's malloc tuning and locale are the pool's (the supervisor
    // asks it only for pools that would have chosen the same).
    if (!python::settle_forked_runtime(main_state, runtime, forked_environment, error)) {
      log::error("cannot start Python: {}", error);
      return worker_exit::kPythonFailed;
    }
  } else {
    worker::tune_malloc();
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
    worker::install_crash_report();
  python::Interpreters interpreters(options.python_path);
  worker::Router router(options, interpreters);
  if (options.fork_template) {
    {
      python::ThreadState preloading;
      router.preload(preloading, worker::Router::Preload::MainInterpreter);
    }
    worker::serve_fork_requests(options.supervisor_pid, main_state, contract, [argc, argv, &title] {
      worker::set_process_title(argc, argv, title.empty() ? "wsgi-fpm spare" : title + " spare");
    });
    // From here on, a worker forked from the template.
    worker::set_process_title(argc, argv, title.empty() ? std::string("wsgi-fpm-worker") : title);
  }
  {
    python::ThreadState preloading;
    router.preload(preloading, options.fork_template ? worker::Router::Preload::MarkedInSubInterpreters
                                                     : worker::Router::Preload::Marked);
  }

  // What GET_VALUES tells a FastCGI frontend: the connections a process
  // keeps open, and the requests it serves at once (one per thread).
  worker::ConnectionLimits limits{options.request_header_limit, options.socket_timeout * 1000,
                                  static_cast<unsigned>(options.maximum_connections),
                                  static_cast<unsigned>(options.threads)};
  bool scgi = options.protocol == "scgi";
  std::vector<Network> allowed;
  for (const auto& text : options.allowed_clients) {
    std::string why;
    if (auto n = parse_network(text, why)) allowed.push_back(*n);
  }
  worker::Dispatcher dispatcher(contract.fd(options.listen_fd),
                                [&](UniqueFd fd) -> std::unique_ptr<worker::Connection> {
                                  if (scgi) return std::make_unique<worker::ScgiConnection>(std::move(fd), limits);
                                  return std::make_unique<worker::FastCgiConnection>(std::move(fd), limits);
                                },
                                worker::DispatcherLimits{std::chrono::seconds(options.request_read_timeout),
                                                         static_cast<std::size_t>(options.maximum_connections)});
  if (worker::use_handoff_socket(contract.fd(kHandoffFd))) {
    // Keep-alive connections outlive a graceful replacement: stopping, this
    // process hands its idle ones over to a sibling (through the
    // supervisor); ready, it adopts those of a stopping sibling. (The
    // contract keeps the socket high and close-on-exec.)
    dispatcher.set_hand_over(worker::hand_over_connections);
    dispatcher.watch(contract.fd(kHandoffFd), [&dispatcher] {
      return worker::receive_connections([&dispatcher](UniqueFd fd) { dispatcher.adopt(std::move(fd)); });
    });
  }
  if (!allowed.empty()) {
    // allowed-clients: TCP peers outside the configured networks are closed
    // before a byte is read (UNIX sockets are guarded by their file mode).
    dispatcher.set_admission([&allowed](int fd) {
      sockaddr_storage peer;
      socklen_t len = sizeof peer;
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return false;
      if (peer.ss_family == AF_UNIX) return true;
      for (const auto& n : allowed) {
        if (n.contains(reinterpret_cast<sockaddr*>(&peer))) return true;
      }
      char text[INET6_ADDRSTRLEN] = "?";
      const void* addr = peer.ss_family == AF_INET
                             ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&peer)->sin_addr)
                             : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr);
      inet_ntop(peer.ss_family, addr, text, sizeof text);
      log::warning("refused a connection from {}: not in allowed-clients", text);
      return false;
    });
  }
  worker::Reporter reporter(options.threads, options.maximum_requests, contract.fd(kScoreboardFd),
                            contract.fd(kNotifyFd));
  dispatcher.set_listener_lost([&reporter](const std::string&) { reporter.retire("lost its listening socket"); });
  std::vector<std::atomic<python::ThreadState*>> slot_states(static_cast<std::size_t>(options.threads));
  std::unique_ptr<python::ThreadState> monitor_state;  // made and used on the monitor thread only
  worker::RequestMonitor monitor(
      options.threads, options.request_timeout, options.interrupt_timeout,
      {[&](int slot) -> std::string {
         // Read in the interpreter the request runs in, under its GIL.
         python::ThreadState* owner = slot_states[static_cast<std::size_t>(slot)].load();
         PyThreadState* target = owner ? owner->last_state() : nullptr;
         if (!target) return {};
         return python::stack_of_thread(monitor_state->for_interpreter(PyThreadState_GetInterpreter(target)), target);
       },
       [&](int slot, unsigned long ident) {
         python::ThreadState* owner = slot_states[static_cast<std::size_t>(slot)].load();
         PyInterpreterState* interp = owner ? owner->last_interpreter() : nullptr;
         if (!interp) return false;
         return python::interrupt_thread(monitor_state->for_interpreter(interp), ident);
       },
       [&](const std::string& reason) { reporter.retire(reason); }});
  pthread_t monitor_thread{};
  if (monitor.enabled()) {
    monitor_thread = start_thread(0, [&] {
      monitor_state = std::make_unique<python::ThreadState>();
      monitor.run();
      monitor_state.reset();
    });
  }
  std::unique_ptr<worker::GilHeartbeat> heartbeat;
  if (options.deadlock_timeout > 0) {
    // Wait for the GIL in the interpreter a busy request thread last ran in,
    // another one each beat: CPython 3.11 asks a holder to let go only when
    // the waiter is in the holder's interpreter, so a heartbeat that always
    // waited in the main one would take a long loop in a sub-interpreter
    // for a deadlock.
    heartbeat = std::make_unique<worker::GilHeartbeat>(
        [&reporter] { reporter.gil_taken(); },
        [&, beat = std::size_t{0}]() mutable -> PyInterpreterState* {
          std::vector<PyInterpreterState*> busy;
          for (int i = 0; i < options.threads; ++i) {
            python::ThreadState* state = slot_states[static_cast<std::size_t>(i)].load();
            if (state && reporter.busy(i) && state->last_interpreter()) busy.push_back(state->last_interpreter());
          }
          return busy.empty() ? nullptr : busy[beat++ % busy.size()];
        });
  }
  // Forked (zygote, template): adopted by the supervisor before serving.
  worker::finish_adoption();
  std::vector<pthread_t> threads;
  for (int i = 0; i < options.threads; ++i) {
    threads.push_back(start_thread(options.stack_size, [&, slot = i] {
      python::ThreadState state;
      slot_states[static_cast<std::size_t>(slot)] = &state;
      unsigned long ident = python::current_thread_ident();
      dispatcher.run_thread([&](worker::Connection& conn) {
        const auto& params = conn.params();
        auto method = params.get_or("REQUEST_METHOD", "GET");
        auto uri = params.get_or("REQUEST_URI", params.get_or("PATH_INFO", "/"));
        reporter.request_started(slot, method, uri);
        if (monitor.enabled()) monitor.started(slot, ident, method, uri);
        router.handle(conn, state);
        if (monitor.enabled()) monitor.finished(slot);
        reporter.request_finished(slot);
      });
      slot_states[static_cast<std::size_t>(slot)] = nullptr;
    }));
  }
  reporter.ready();
  if (options.apps.size() == 1) {
    log::info("serving {} with {} thread{} ({})", options.apps.front().script, options.threads,
              options.threads == 1 ? "" : "s", options.protocol);
  } else {
    log::info("serving {} applications with {} thread{} ({})", options.apps.size(), options.threads,
              options.threads == 1 ? "" : "s", options.protocol);
  }

  // Between signals, once a second: are the listening socket and the notify
  // pipe still ours? An app can close them (contract.h); a process that lost
  // one is replaced rather than left "ready" but broken. (The accept path
  // finds a lost socket too, but only when a connection comes; this also
  // finds a number reused by the app, and a silent notify pipe.)
  const timespec watch_period{1, 0};
  int signal_number = 0;
  while (true) {
    signal_number = sigtimedwait(&stop_signals, nullptr, &watch_period);
    if (signal_number < 0) {
      if (errno == EAGAIN) {
        dispatcher.check_listener();
        reporter.check_link();
      }
      continue;
    }
    if (signal_number != SIGUSR1) break;
    reporter.evict("SIGUSR1");
  }
  int drain_seconds = signal_number == SIGUSR2 ? options.eviction_timeout : options.graceful_timeout;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(drain_seconds);
  reporter.stopping();
  dispatcher.begin_stop();
  if (!dispatcher.wait_drained(deadline)) {
    log::warning("{} connection(s) still busy after {} ({} s): exiting anyway", dispatcher.open_connections(),
                 signal_number == SIGUSR2 ? "eviction-timeout" : "graceful-timeout", drain_seconds);
    std::_Exit(worker_exit::kDrainTimedOut);  // Python cannot be finalized under running requests
  }
  dispatcher.release_threads();
  for (auto t : threads) pthread_join(t, nullptr);
  if (monitor.enabled()) {
    monitor.stop();
    pthread_join(monitor_thread, nullptr);
  }
  heartbeat.reset();
  router.unload(main_state);
  python::finalize_runtime(main_state);
  return worker_exit::kStopped;
}
