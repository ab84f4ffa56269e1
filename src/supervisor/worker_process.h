// A worker process as the supervisor sees it.
#pragma once

#include <uv.h>

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "supervisor/child_process.h"
#include "supervisor/fork_channel.h"
#include "supervisor/log_sink.h"
#include "supervisor/process_manager.h"
#include "supervisor/uv_handle.h"
#include "supervisor/worker_output.h"
#include "util/fd.h"
#include "wsgi_fpm/descriptors.h"
#include "wsgi_fpm/scoreboard.h"

namespace wsgi_fpm::supervisor {

struct InFlightRequest {
  std::string url;
  double seconds = 0;
};

struct ProcessStatus {
  long pid = 0;
  std::string state;
  double age_seconds = 0;
  std::uint64_t requests = 0;
  unsigned busy_threads = 0;
  std::uint64_t rss_bytes = 0;
  std::vector<InFlightRequest> in_flight;
};

// One worker process (or a template, or the zygote) from the pool's side:
// its lifecycle (starting, ready, stopping, exited), what it says (its
// output and notify lines), its scoreboard, and its handoff socket. How the
// process itself runs is a ChildProcess (spawned or forked); a template or
// the zygote also holds the ForkChannel its forks are asked for on.
class WorkerProcess {
 public:
  enum class State { Starting, Ready, Stopping, Exited };

  struct Events {
    std::function<void(WorkerProcess&)> ready;
    // The worker wants a successor; `evicted`: because the operator asked
    // (SIGUSR1), so its requests get eviction-timeout rather than
    // graceful-timeout to finish.
    std::function<void(WorkerProcess&, const std::string& reason, bool evicted)> retire;
    std::function<void(WorkerProcess&, int64_t status, int signal)> exited;
    // Every handle closed: the object may be destroyed.
    std::function<void(WorkerProcess&)> closed;
    // The process, stopping, handed over idle keep-alive connections
    // (kHandoffFd) for a sibling to adopt; closed if none takes them.
    std::function<void(WorkerProcess&, std::vector<UniqueFd> connections)> handed_over;
  };

  struct SpawnOptions {
    std::string executable;
    std::vector<std::string> arguments;
    std::vector<std::string> environment;
    int listen_fd = -1;
    std::string pool_name;
    std::shared_ptr<LogSink> log;
    // preload-fork: this process is a template (the worker was given
    // --fork-template) and gets a fork-request socket as kForkCommandFd.
    bool fork_template = false;
    // The shared zygote (--zygote): a template with no pool, and so no
    // listening socket (listen_fd -1); each fork request carries the
    // worker's socket, arguments and environment.
    bool zygote = false;
  };

  WorkerProcess(uv_loop_t* loop, std::size_t slot, Events events);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // Starts the process with uv_spawn. False with `error`.
  bool spawn(const SpawnOptions& options, std::string& error);
  // Asks the ready `fork_template` (a pool's template, or the zygote) for
  // this process. Its pid is known (pid() stops being 0) once the template
  // answers; signals sent before then are delivered then.
  bool fork_from(WorkerProcess& fork_template, const SpawnOptions& options, std::string& error);
  bool is_template() const { return static_cast<bool>(forks_); }
  bool is_zygote() const { return zygote_; }
  // Handles still to close (their callbacks will free the object); none
  // after a start that failed before it opened any.
  bool closing() const { return handles_.open() > 0; }
  // Gives a ready worker keep-alive connections a stopping sibling handed
  // over. False if they did not go (not ready, gone, its queue full).
  bool adopt_connections(const std::vector<UniqueFd>& connections);
  // A number no other WorkerProcess of this supervisor has (a pid may be 0
  // or be reused).
  std::uint64_t serial() const { return serial_; }
  void signal(int signum);
  // Graceful stop: `signum` now (SIGTERM: drain for graceful-timeout;
  // SIGUSR2: for eviction-timeout), SIGKILL after `kill_after`.
  void stop(std::chrono::milliseconds kill_after, int signum = SIGTERM);

  std::size_t slot() const { return slot_; }
  long pid() const { return child_ ? child_->pid() : 0; }
  State state() const { return state_; }
  std::uint64_t requests_served() const;
  std::chrono::steady_clock::time_point started() const { return started_; }
  ProcessStatus status() const;
  // Reads the scoreboard for the process manager: call once a tick, so that
  // idle time counts from the last tick that saw a request. `measure_rss`:
  // also read its resident set from /proc (maximum-memory).
  void observe(std::chrono::steady_clock::time_point now, bool measure_rss = false);
  // What the process manager sees (after the last observe()).
  ProcessView view(std::chrono::steady_clock::time_point now) const;
  // Why the pool let it go ("replaced: maximum-memory (...)"), for the
  // pool's last exit reason once it is gone; empty if it was not asked to.
  void set_stop_reason(std::string reason) { stop_reason_ = std::move(reason); }
  const std::string& stop_reason() const { return stop_reason_; }

 private:
  // What both ways of starting share: options, scoreboard, and (a worker)
  // the handoff socket, or (a template) the fork-request socket, whose
  // other end is `theirs`.
  bool prepare(const SpawnOptions& options, UniqueFd& board_fd, UniqueFd& theirs, std::string& error);
  // Started: reads its output and handoff socket. True.
  bool begin_watching();
  // Not started: closes what was made. False.
  bool abandon_start();
  void on_line(WorkerOutput::Stream stream, std::string_view line);
  void on_notify(std::string_view line);
  // The process is gone: state, timers, sockets, output, the exited event.
  void handle_exit(int64_t status, int signal);
  // Every handle closed after the exit: the closed event.
  void on_handles_closed();
  void on_handoff_readable();

  uv_loop_t* loop_;
  std::size_t slot_;
  Events events_;
  State state_ = State::Starting;
  std::string pool_name_;
  std::shared_ptr<LogSink> log_;
  std::chrono::steady_clock::time_point started_;
  std::uint64_t serial_;
  HandleCount handles_;  // every handle below, until closed
  std::unique_ptr<ChildProcess> child_;
  ForkedChild* forked_ = nullptr;  // child_, when it is one
  bool ready_before_pid_ = false;  // forked: "ready" came before the template's answer
  WorkerOutput output_;
  Timer kill_timer_;
  ScoreboardMapping board_;
  std::uint64_t final_requests_ = 0;
  std::uint64_t observed_requests_ = 0;
  std::uint64_t observed_rss_ = 0;
  std::string stop_reason_;
  std::chrono::steady_clock::time_point last_active_;
  // A template or the zygote: the socket its forks are asked for on.
  std::unique_ptr<ForkChannel> forks_;
  bool zygote_ = false;
  // Every worker (never a template): connections handed over, both ways.
  UniqueFd handoff_fd_;
  Poll handoff_poll_;
};

// "exited with status N", with what N means when it is one of the worker's
// named statuses (wsgi_fpm/worker_exit.h), for the log.
std::string exited_with(int64_t status);
// exited_with(status), or "killed by signal N (name)".
std::string exit_reason(int64_t status, int signal);

}  // namespace wsgi_fpm::supervisor
