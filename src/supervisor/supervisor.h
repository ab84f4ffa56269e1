// The supervisor of `wsgi-fpm run`: reads the config, owns every pool, and
// answers signals and the control socket. It never does request work.
#pragma once

#include <uv.h>

#include <chrono>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/schema.h"
#include "config/user_db.h"
#include "supervisor/control_server.h"
#include "supervisor/log_sink.h"
#include "supervisor/pool.h"
#include "supervisor/runtime_dir.h"
#include "supervisor/uv_handle.h"

namespace wsgi_fpm::supervisor {

class Supervisor {
 public:
  explicit Supervisor(std::string config_path);
  ~Supervisor();
  // Runs until stopped; the process's exit status.
  int run();

 private:
  // Loads and validates the config against `users`, the user database as
  // this load sees it; false with the errors as text lines.
  bool load(config::Config& out, const config::UserDb& users, std::string& errors);
  // Starts, updates and stops pools to match `config`, loaded with `users`.
  // Errors (a socket that cannot be bound) are returned as text; the rest
  // still applies.
  std::string apply(const config::Config& config, const config::UserDb& users);
  std::shared_ptr<LogSink> pool_log(const config::Pool& pool);
  // Replaces the pool `pool` names (if running) with a new one on `socket`,
  // or on a socket of its own if `socket` is empty.
  void restart_pool(const config::Pool& pool, PoolSpec spec, ListeningSocket socket, std::string& problems);
  void on_runtime_dir_change(bool recreated);
  std::string reload();
  void stop();
  // Ends the loop once every pool and zygote has stopped.
  void maybe_stopped();
  void reopen_logs();
  std::string handle_command(const std::string& command);
  std::vector<PoolStatus> snapshot() const;
  void info(const std::string& message);
  void error(const std::string& message);

  std::string config_path_;
  uv_loop_t* loop_;
  config::Config config_;
  std::shared_ptr<LogSink> log_;
  std::map<std::string, std::shared_ptr<LogSink>> pool_logs_;  // by file path
  std::map<std::string, std::unique_ptr<Pool>> pools_;
  std::list<std::unique_ptr<Pool>> stopping_pools_;
  // Made once the log is open; stopped after the pools.
  std::unique_ptr<Zygotes> zygotes_;
  bool zygotes_stopping_ = false;
  bool zygotes_stopped_ = false;
  RuntimeDir runtime_dir_;
  ControlServer control_;
  Signal sigterm_, sigint_, sighup_, sigusr1_;
  // SIGCHLD: an exited child that no WorkerProcess knows (a spare, gone with
  // its zygote or template; an orphan) is reaped a second or two later, even
  // when no pool ticks.
  Signal sigchld_;
  Timer reap_timer_;
  void reap_until_none_left();
  Timer stop_later_;  // `stop` from the control socket: after the reply
  bool stopping_ = false;
  // Starting more pools than this, the log gets one summary line.
  static constexpr std::size_t kPoolsLoggedOneByOne = 20;
  bool starting_many_ = false;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace wsgi_fpm::supervisor
