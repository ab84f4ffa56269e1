// One spawned worker as the supervisor sees it: the process handle, the pipes
// its stdout, stderr and notifications arrive on, and its scoreboard.
#pragma once

#include <uv.h>

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "supervisor/log_sink.h"
#include "util/fd.h"
#include "supervisor/process_manager.h"
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

  bool spawn(const SpawnOptions& options, std::string& error);
  // preload-fork: asks the ready `fork_template` for this worker. Its pid is
  // known (pid() stops being 0) once the template answers; signals sent
  // before then are delivered then.
  bool fork_from(WorkerProcess& fork_template, const SpawnOptions& options, std::string& error);
  bool is_template() const { return static_cast<bool>(command_fd_); }
  bool is_zygote() const { return zygote_; }
  // Handles still to close (their callbacks will free the object); none
  // after a spawn that failed before it opened any.
  bool closing() const { return open_handles_ > 0; }
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
  long pid() const { return pid_; }
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
  struct Pipe;
  void on_line(bool from_stderr, std::string_view line);
  void on_notify(std::string_view line);
  void handle_closed();
  bool make_scoreboard(UniqueFd& fd, std::string& error);
  void start_reading();
  // The process is gone: state, kill timer, the exited event.
  void handle_exit(int64_t status, int signal);
  // preload-fork, as the forked worker: the template answered.
  void adopt(long pid);
  void fork_failed(const std::string& why);
  void on_pidfd_readable();
  void close_pidfd();
  // preload-fork, as the template: answers from the fork-request socket.
  void on_fork_replies();
  // The handoff socket (kHandoffFd): a pair, the worker's end for the
  // spawn or the fork request, ours watched from then on.
  bool make_handoff_socket(UniqueFd& theirs, std::string& error);
  void watch_handoff_socket();
  void on_handoff_readable();
  void close_handoff_socket();
  void fail_pending_forks(const std::string& why);

  uv_loop_t* loop_;
  std::size_t slot_;
  Events events_;
  State state_ = State::Starting;
  long pid_ = 0;
  std::string pool_name_;
  std::shared_ptr<LogSink> log_;
  std::chrono::steady_clock::time_point started_;
  uv_process_t* process_ = nullptr;
  uv_timer_t* kill_timer_ = nullptr;
  std::unique_ptr<Pipe> stdout_, stderr_, notify_;
  // Once the process has exited: what its pipes hold, then closes them.
  void drain_output();
  Scoreboard* board_ = nullptr;
  int open_handles_ = 0;
  std::uint64_t final_requests_ = 0;
  std::uint64_t observed_requests_ = 0;
  std::uint64_t observed_rss_ = 0;
  std::string stop_reason_;
  std::chrono::steady_clock::time_point last_active_;
  std::uint64_t serial_;
  // preload-fork, as a forked worker: the pidfd its exit is seen on (it is
  // our child, adopted as the subreaper, but libuv does not know it).
  bool forked_ = false;
  bool awaiting_pid_ = false;
  bool ready_before_pid_ = false;
  int pending_signal_ = 0;
  int pidfd_ = -1;
  uv_poll_t* pidfd_poll_ = nullptr;
  // preload-fork, as a template: the fork-request socket, and the workers
  // waiting for their pid by request id.
  UniqueFd command_fd_;
  bool zygote_ = false;
  uv_poll_t* command_poll_ = nullptr;
  std::map<std::uint64_t, WorkerProcess*> pending_forks_;
  // Every worker (never a template): connections handed over, both ways.
  UniqueFd handoff_fd_;
  uv_poll_t* handoff_poll_ = nullptr;
};

// preload-fork: makes the supervisor the reaper of its workers' orphans, so
// that a worker forked by a template (fork_template.h) becomes its child.
// Idempotent. False with `error`.
bool become_child_subreaper(std::string& error);
// "exited with status N", with what N means when it is one of the worker's
// named statuses (wsgi_fpm/worker_exit.h), for the log.
std::string exited_with(int64_t status);
// Once it is (for a template or the zygote), every orphan of any worker's
// children is ours to reap, forked worker or not.
bool is_child_subreaper();
// Reaps exited children that no WorkerProcess knows (orphans of workers'
// own children, adopted as the subreaper; a spare the zygote or a template
// kept forked ahead, gone unused): a zombie seen twice, a second apart.
// Call once a second while subreaper; true while an unknown zombie is left
// to be seen again.
bool reap_unknown_children();
// At the supervisor's exit, once every WorkerProcess is gone: waits up to
// `patience` for the children left (spares leave when their zygote or
// template has gone, orphans when they will), then kills them, so that none
// outlives a clean stop.
void reap_remaining_children(std::chrono::milliseconds patience);

}  // namespace wsgi_fpm::supervisor
