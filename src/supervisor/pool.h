// One pool as the supervisor runs it: its listening socket (owned here, so
// it outlives every worker) and its worker processes, respawned with backoff
// when they die, stopped gracefully on request.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/address.h"
#include "util/fd.h"
#include "util/socket.h"
#include "worker/options.h"

namespace wsgi_fpm::supervisor {

struct PoolSpec {
  std::string name;
  Address listen;
  SocketOwnership socket_owner;
  int listen_backlog = 100;
  int processes = 1;
  worker::WorkerOptions worker;       // listen_fd, supervisor_pid are filled in here
  std::string worker_executable;
  std::vector<std::string> environment;  // NAME=value, the workers' whole environment
  int shutdown_timeout = 5;
};

class Pool {
 public:
  Pool(uv_loop_t* loop, PoolSpec spec);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Binds the socket and starts every process. False with `error`.
  bool start(std::string& error);
  // SIGTERM to every worker; SIGKILL to those alive after shutdown-timeout;
  // then the socket is closed and unlinked and `done` runs.
  void stop(std::function<void()> done);

  const PoolSpec& spec() const { return spec_; }

 private:
  struct Process;
  void spawn(std::size_t slot);
  void on_exit(Process* process, int64_t exit_status, int term_signal);
  void maybe_finish_stop();
  void release_socket();

  uv_loop_t* loop_;
  PoolSpec spec_;
  UniqueFd listen_fd_;
  std::vector<std::unique_ptr<Process>> processes_;
  bool stopping_ = false;
  std::function<void()> stopped_;
  uv_timer_t* kill_timer_ = nullptr;
};

}  // namespace wsgi_fpm::supervisor
