// What the supervisor runs for a pool, made from a validated config::Pool:
// the socket to bind, the worker command line and environment, and the
// pool's own settings.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config/schema.h"
#include "config/user_db.h"
#include "supervisor/process_manager.h"
#include "util/address.h"
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
  ProcessManagerSettings manager;  // static / ondemand / dynamic
  // (shutdown-, graceful-, eviction- and deadlock-timeout: the worker's, in
  // `worker`, which the supervisor acts on as well.)
  int startup_timeout = 15;
  int restart_interval = 0;
  int inactivity_timeout = 0;  // replace a process idle this long after serving (0: never)
  std::uint64_t maximum_memory = 0;  // replace a process whose RSS passed this many bytes (0: never)
  bool script_reloading = true;
  std::vector<std::string> scripts;  // watched for touches when script_reloading
  // preload-fork: workers are forked from a template process that imported
  // the pool's %{GLOBAL} apps (worker/fork_template.h).
  bool preload_fork = false;
  // preload-fork: the template starts when a worker is wanted and stops
  // once the pool has had no worker for this long (0: it stays).
  std::chrono::seconds template_idle_timeout{10};
  // Which shared zygote forks the workers (zygote.h), as zygote_for() in
  // pool_spec.cc says; "" for none: they are spawned.
  std::string zygote;

  // Changing any of these needs a new socket.
  bool same_socket(const PoolSpec& o) const {
    return listen.str() == o.listen.str() && socket_owner.uid == o.socket_owner.uid &&
           socket_owner.gid == o.socket_owner.gid && socket_owner.mode == o.socket_owner.mode &&
           listen_backlog == o.listen_backlog;
  }
  // Everything a running worker was started with.
  std::vector<std::string> fingerprint() const;
};


// False with `error` (e.g. the user vanished since the config was checked).
// `users` is the database the config was loaded with: one view of it per load.
bool make_pool_spec(const config::Pool& pool, const config::UserDb& users, PoolSpec& out, std::string& error);

}  // namespace wsgi_fpm::supervisor
