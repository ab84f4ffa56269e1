#include "worker/serve.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "python/thread_control.h"
#include "util/log.h"
#include "util/network.h"
#include "worker/connection_handoff.h"
#include "worker/dispatcher.h"
#include "worker/fastcgi_connection.h"
#include "worker/fork_template.h"
#include "worker/gil_heartbeat.h"
#include "worker/process_setup.h"
#include "worker/reporter.h"
#include "worker/request_monitor.h"
#include "worker/scgi_connection.h"
#include "wsgi_fpm/descriptors.h"
#include "wsgi_fpm/worker_exit.h"

namespace wsgi_fpm::worker {

int serve(const WorkerOptions& options, Contract& contract, Router& router, PyThreadState* main_state,
          const sigset_t& stop_signals) {
  // What GET_VALUES tells a FastCGI frontend: the connections a process
  // keeps open, and the requests it serves at once (one per thread).
  ConnectionLimits limits{options.request_header_limit, options.socket_timeout * 1000,
                                  static_cast<unsigned>(options.maximum_connections),
                                  static_cast<unsigned>(options.threads)};
  bool scgi = options.protocol == "scgi";
  std::vector<Network> allowed;
  for (const auto& text : options.allowed_clients) {
    std::string why;
    if (auto n = parse_network(text, why)) allowed.push_back(*n);
  }
  Dispatcher dispatcher(contract.fd(options.listen_fd),
                                [&](UniqueFd fd) -> std::unique_ptr<Connection> {
                                  if (scgi) return std::make_unique<ScgiConnection>(std::move(fd), limits);
                                  return std::make_unique<FastCgiConnection>(std::move(fd), limits);
                                },
                                DispatcherLimits{std::chrono::seconds(options.request_read_timeout),
                                                         static_cast<std::size_t>(options.maximum_connections)});
  if (use_handoff_socket(contract.fd(kHandoffFd))) {
    // Keep-alive connections outlive a graceful replacement: stopping, this
    // process hands its idle ones over to a sibling (through the
    // supervisor); ready, it adopts those of a stopping sibling. (The
    // contract keeps the socket high and close-on-exec.)
    dispatcher.set_hand_over(hand_over_connections);
    dispatcher.watch(contract.fd(kHandoffFd), [&dispatcher] {
      return receive_connections([&dispatcher](UniqueFd fd) { dispatcher.adopt(std::move(fd)); });
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
  Reporter reporter(options.threads, options.maximum_requests, contract.fd(kScoreboardFd),
                            contract.fd(kNotifyFd));
  dispatcher.set_listener_lost([&reporter](const std::string&) { reporter.retire("lost its listening socket"); });
  std::vector<std::atomic<python::ThreadState*>> slot_states(static_cast<std::size_t>(options.threads));
  std::unique_ptr<python::ThreadState> monitor_state;  // made and used on the monitor thread only
  RequestMonitor monitor(
      reporter.scoreboard(), options.threads, options.request_timeout, options.interrupt_timeout,
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
  std::unique_ptr<GilHeartbeat> heartbeat;
  if (options.deadlock_timeout > 0) {
    // Wait for the GIL in the interpreter a busy request thread last ran in,
    // another one each beat: CPython 3.11 asks a holder to let go only when
    // the waiter is in the holder's interpreter, so a heartbeat that always
    // waited in the main one would take a long loop in a sub-interpreter
    // for a deadlock.
    heartbeat = std::make_unique<GilHeartbeat>(
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
  finish_adoption();
  std::vector<pthread_t> threads;
  for (int i = 0; i < options.threads; ++i) {
    threads.push_back(start_thread(options.stack_size, [&, slot = i] {
      python::ThreadState state;
      slot_states[static_cast<std::size_t>(slot)] = &state;
      monitor.attach(slot, python::current_thread_ident());
      dispatcher.run_thread([&](Connection& conn) {
        const auto& params = conn.params();
        auto method = params.get_or("REQUEST_METHOD", "GET");
        auto uri = params.get_or("REQUEST_URI", params.get_or("PATH_INFO", "/"));
        reporter.request_started(slot, method, uri);
        if (monitor.enabled()) monitor.request_started();
        router.handle(conn, state);
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
  int drain_seconds = signal_number == SIGUSR2 ? options.eviction_seconds() : options.graceful_timeout;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(drain_seconds);
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

}  // namespace wsgi_fpm::worker
