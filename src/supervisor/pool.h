// One pool as the supervisor runs it (mod_wsgi's WSGIDaemonProcess): the
// listening socket, owned here so it outlives every worker, and `processes`
// slots, each holding a worker. A worker is replaced gracefully (its
// successor is serving before it stops accepting) when it asks to retire
// (maximum-requests), when restart-interval passes, when a script is touched,
// and on reload; it is respawned with backoff when it dies.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "supervisor/log_sink.h"
#include "supervisor/worker_process.h"
#include "util/address.h"
#include "util/fd.h"
#include "util/socket.h"
#include "worker/options.h"

namespace wsgi_fpm::supervisor {

struct PoolSpec {
  std::string name;
  Address listen;
  SocketOwnership socket_owner;
  int listen_backlog = 1024;
  int processes = 1;
  worker::WorkerOptions worker;  // listen_fd and supervisor_pid are filled in by the pool
  std::string worker_executable;
  std::vector<std::string> environment;  // NAME=value: the workers' whole environment
  std::string user_name;                 // for status
  int shutdown_timeout = 5;
  int graceful_timeout = 15;
  int startup_timeout = 15;
  int restart_interval = 0;
  bool script_reloading = true;
  std::vector<std::string> scripts;  // watched for touches when script_reloading

  // Changing any of these needs a new socket.
  bool same_socket(const PoolSpec& o) const {
    return listen.str() == o.listen.str() && socket_owner.uid == o.socket_owner.uid &&
           socket_owner.gid == o.socket_owner.gid && socket_owner.mode == o.socket_owner.mode &&
           listen_backlog == o.listen_backlog;
  }
  // Everything a running worker was started with.
  std::vector<std::string> fingerprint() const;
};

struct PoolStatus {
  std::string name, address, protocol, user;
  int processes = 0, threads = 0;
  std::uint64_t requests = 0, in_flight = 0, restarts = 0;
  std::string last_exit;
  std::vector<ProcessStatus> workers;
};

class Pool {
 public:
  Pool(uv_loop_t* loop, PoolSpec spec, std::shared_ptr<LogSink> log);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Binds the socket (or adopts `socket` from the pool this one replaces)
  // and starts every process. False with `error`.
  bool start(std::string& error, UniqueFd socket = {});
  // Hands the listening socket to a successor pool (reload with a changed
  // spec on the same address): this pool then stops without unlinking it.
  UniqueFd take_socket();
  // Replaces every process gracefully, e.g. after a spec change or a touch.
  void replace_all(const std::string& reason);
  // Takes a new spec for the same socket and rolls every process over to it.
  void update(PoolSpec spec);
  // Graceful stop: SIGTERM, SIGKILL after shutdown-timeout; `done` runs when
  // every worker is gone and the socket is closed (and unlinked if owned).
  void stop(std::function<void()> done);

  const PoolSpec& spec() const { return spec_; }
  PoolStatus status() const;

 private:
  struct Slot {
    WorkerProcess* current = nullptr;
    WorkerProcess* successor = nullptr;
    int quick_failures = 0;
    uv_timer_t* respawn_timer = nullptr;
    std::string pending_reason;  // why the slot wants a successor once it can
  };

  WorkerProcess* spawn(std::size_t slot);
  void replace(std::size_t slot, const std::string& reason);
  void on_ready(WorkerProcess& w);
  void on_exit(WorkerProcess& w, int64_t status, int signal);
  void schedule_respawn(std::size_t slot, long dead_pid);
  void check_scripts();
  void maybe_finish_stop();
  void close_timers();
  // Runs `fn` once after `ms`, unless the pool stops first.
  void after(std::uint64_t ms, std::function<void()> fn);

  uv_loop_t* loop_;
  PoolSpec spec_;
  std::shared_ptr<LogSink> log_;
  UniqueFd listen_fd_;
  bool owns_socket_path_ = true;
  std::vector<Slot> slots_;
  std::list<std::unique_ptr<WorkerProcess>> workers_;  // every live or closing worker
  std::map<std::string, std::int64_t> script_mtimes_;
  uv_timer_t* watch_timer_ = nullptr;
  std::list<uv_timer_t*> one_shots_;
  int open_timers_ = 0;
  bool stopping_ = false;
  std::function<void()> stopped_;
  std::uint64_t retired_requests_ = 0;
  std::uint64_t restarts_ = 0;
  std::string last_exit_;
};

}  // namespace wsgi_fpm::supervisor
