// One pool as the supervisor runs it (mod_wsgi's WSGIDaemonProcess): the
// listening socket, owned here so it outlives every worker, and `processes`
// slots, each holding a worker or empty. A worker is replaced gracefully (its
// successor is serving before it stops accepting) when it asks to retire
// (maximum-requests, request-timeout), when restart-interval or
// inactivity-timeout passes, when its RSS passes maximum-memory, when a
// script is touched, on SIGUSR1 and on reload; it is respawned with backoff
// when it dies. Once a second the pool reads its workers' scoreboards (and,
// with maximum-memory, their RSS) and lets the process manager
// (process_manager.h) say which slots to fill, empty or replace; with ondemand
// and dynamic it also watches the socket for connections no thread is free for.
#pragma once

#include <uv.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/log_sink.h"
#include "supervisor/pool_spec.h"
#include "supervisor/process_manager.h"
#include "supervisor/uv_handle.h"
#include "supervisor/worker_process.h"
#include "supervisor/zygote.h"
#include "util/address.h"
#include "util/fd.h"
#include "util/socket.h"
#include "worker/options.h"

namespace wsgi_fpm::supervisor {

struct PoolStatus {
  std::string name, address, protocol, user, process_manager;
  int processes = 0, threads = 0;
  std::uint64_t requests = 0, in_flight = 0, restarts = 0;
  std::string last_exit;
  long template_pid = 0;  // preload-fork: the template workers are forked from
  std::uint64_t template_rss_bytes = 0;
  std::vector<ProcessStatus> workers;
};

class Pool {
 public:
  // `zygotes`: where workers of a pool with a PoolSpec::zygote are forked
  // from; nullptr to spawn every one.
  Pool(uv_loop_t* loop, PoolSpec spec, std::shared_ptr<LogSink> log, Zygotes* zygotes = nullptr);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Binds the socket (or adopts `socket` from the pool this one replaces)
  // and starts every process. False with `error`.
  // `announce`: log description() (a supervisor starting many pools logs a
  // summary instead).
  bool start(std::string& error, ListeningSocket socket = {}, bool announce = true);
  // "pool a listening on /run/a.sock (fastcgi) with 2 processes of 4 threads"
  std::string description() const;
  // Hands the listening socket to a successor pool (reload with a changed
  // spec on the same address): this pool then stops without unlinking it.
  ListeningSocket take_socket();
  // How long a replaced process may finish its requests: graceful-timeout
  // when it asked to go, eviction-timeout when the operator asked.
  enum class Drain { Graceful, Eviction };
  // Replaces every process gracefully, e.g. after a touched script.
  void replace_all(const std::string& reason);
  // Takes a new spec for the same socket; with `replace_processes` (what the
  // workers were started with changed) rolls every process over to it.
  void update(PoolSpec spec, bool replace_processes);
  // Graceful stop: SIGTERM, SIGKILL after shutdown-timeout; `done` runs when
  // every worker is gone and the socket is closed (and unlinked if owned).
  void stop(std::function<void()> done);

  const PoolSpec& spec() const { return spec_; }
  // False once the UNIX socket file this pool bound was removed or replaced.
  bool socket_in_place() const { return !socket_file_ || socket_file_in_place(socket_file_); }
  PoolStatus status() const;

 private:
  struct Slot {
    WorkerProcess* current = nullptr;
    WorkerProcess* successor = nullptr;
    int quick_failures = 0;
    Timer respawn_timer;
    Drain drain = Drain::Graceful;  // for `current`, once `successor` is ready
    std::string reason;             // why `successor` replaces `current`
    // preload-fork: a replacement asked for while no template could fork it
    // (a new one is starting), made once one is ready.
    std::optional<std::pair<std::string, Drain>> deferred_replace;
    bool respawn_pending() const { return respawn_timer.active(); }
    bool empty() const { return !current && !successor && !respawn_pending(); }
  };

  WorkerProcess* spawn(std::size_t slot);
  // preload-fork: the template. `template_` forks the workers; a touched
  // script or a reload starts `next_template_`, which takes over (and the
  // workers are replaced from it) once it is ready.
  bool template_ready() const;
  void start_template(const std::string& reason);
  void on_template_ready(WorkerProcess& t);
  void on_template_exit(WorkerProcess& t, int64_t status, int signal);
  void stop_templates();
  // A worker is wanted and no template is ready: starts one unless one is
  // on its way or backing off.
  void want_template(const std::string& reason);
  // Starts or stops template_idle_timer_ as the pool has workers or not.
  void update_template_idle();
  void replace(std::size_t slot, const std::string& reason, Drain drain);
  void on_ready(WorkerProcess& w);
  // Idle keep-alive connections a stopping worker handed over: to the
  // process now in its slot (normally its successor), else to any ready
  // one; closed if none is ready (the pool stops, or shrinks to nothing).
  void pass_on(WorkerProcess& from, std::vector<UniqueFd> connections);
  void on_exit(WorkerProcess& w, int64_t status, int signal);
  void schedule_respawn(std::size_t slot, long dead_pid);
  void check_scripts();
  // The once-a-second look: scripts, then the process manager's plan.
  void tick();
  void fill_static_slots();
  bool has_processes() const;
  // Runs the tick timer while the pool has processes, stops it otherwise.
  void update_tick();
  // Starts a worker in an empty slot; false if every slot is taken.
  bool spawn_in_empty_slot(const std::string& why);
  void stop_idle(std::size_t slot, const std::string& why);
  // What the process manager sees: a view per taken slot (a pending respawn
  // counts as a process starting).
  std::vector<ProcessView> views(std::chrono::steady_clock::time_point now) const;
  long slot_of(long pid) const;
  PoolLimits limits() const;
  // ondemand and dynamic: a readable socket means a connection waits.
  void update_socket_watch();
  void on_connection_waiting();
  std::chrono::milliseconds drain_time(Drain drain) const;
  void maybe_finish_stop();
  void close_timers();
  // Runs `fn` once after `ms`, unless the pool stops first.
  void after(std::uint64_t ms, std::function<void()> fn);
  // A script's modification time in ns, -1 if it cannot be read.
  static std::int64_t mtime_of(const std::string& path);
  // Exponential backoff for a process that keeps dying young, so a broken
  // application never becomes a fork loop: none, then 100 ms doubling to 30 s.
  static int backoff_ms(int failures) {
    return failures == 0 ? 0 : std::min(100 << std::min(failures - 1, 9), 30000);
  }

  uv_loop_t* loop_;
  PoolSpec spec_;
  std::shared_ptr<LogSink> log_;
  Zygotes* zygotes_;
  UniqueFd listen_fd_;
  SocketFile socket_file_;  // the inode bound, removed at stop; empty once handed on
  std::vector<Slot> slots_;
  std::list<std::unique_ptr<WorkerProcess>> workers_;  // every live or closing worker
  std::map<std::string, std::int64_t> script_mtimes_;
  HandleCount handles_;  // the timers and the socket watch below, until closed
  Timer tick_timer_;
  Poll socket_watch_;   // watching while active
  Timer watch_pause_;   // re-arms socket_watch_ after a look
  std::list<Timer> one_shots_;
  bool stopping_ = false;
  std::function<void()> stopped_;
  std::uint64_t retired_requests_ = 0;
  std::uint64_t restarts_ = 0;
  std::string last_exit_;
  WorkerProcess* template_ = nullptr;
  WorkerProcess* next_template_ = nullptr;
  int template_failures_ = 0;
  // A template that failed is not started again before this (backoff).
  std::chrono::steady_clock::time_point template_retry_after_;
  // Runs while the pool has a template and no worker: template-idle-timeout.
  Timer template_idle_timer_;
  int logged_failure_step_ = 0;  // the highest backoff step logged since a process was last ready
};

}  // namespace wsgi_fpm::supervisor
