// One spawned worker as the supervisor sees it: the process handle, the pipes
// its stdout, stderr and notifications arrive on, and its scoreboard.
#pragma once

#include <uv.h>

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "supervisor/log_sink.h"
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
  };

  struct SpawnOptions {
    std::string executable;
    std::vector<std::string> arguments;
    std::vector<std::string> environment;
    int listen_fd = -1;
    std::string pool_name;
    std::shared_ptr<LogSink> log;
  };

  WorkerProcess(uv_loop_t* loop, std::size_t slot, Events events);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  bool spawn(const SpawnOptions& options, std::string& error);
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
  // idle time counts from the last tick that saw a request.
  void observe(std::chrono::steady_clock::time_point now);
  // What the process manager sees (after the last observe()).
  ProcessView view(std::chrono::steady_clock::time_point now) const;

 private:
  struct Pipe;
  void on_line(bool from_stderr, std::string_view line);
  void on_notify(std::string_view line);
  void handle_closed();

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
  Scoreboard* board_ = nullptr;
  int open_handles_ = 0;
  std::uint64_t final_requests_ = 0;
  std::uint64_t observed_requests_ = 0;
  std::chrono::steady_clock::time_point last_active_;
};

}  // namespace wsgi_fpm::supervisor
