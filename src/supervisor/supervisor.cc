#include "supervisor/supervisor.h"

#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <set>
#include <string_view>

#include "supervisor/child_reaper.h"
#include "config/load.h"
#include "config/user_db.h"
#include "supervisor/pool_spec.h"
#include "supervisor/status_report.h"
#include "util/descriptor_limit.h"
#include "util/descriptors.h"
#include "fmt/format.h"

namespace wsgi_fpm::supervisor {
namespace {

}  // namespace

Supervisor::Supervisor(std::string config_path)
    : config_path_(std::move(config_path)),
      loop_(uv_default_loop()),
      runtime_dir_(loop_),
      control_(loop_, [this](const std::string& c) { return handle_command(c); }) {}

Supervisor::~Supervisor() = default;

namespace {
// Parsing a configuration (YAML nodes, the user database snapshot, the
// checks' strings) leaves the heap fragmented once it is freed: at 1,000
// pools, megabytes that an idle supervisor would keep resident for nothing.
void give_back_free_heap() { malloc_trim(0); }
}  // namespace

void Supervisor::info(const std::string& m) { log_->write_line("info", "wsgi-fpm", getpid(), m); }
void Supervisor::error(const std::string& m) { log_->write_line("error", "wsgi-fpm", getpid(), m); }

bool Supervisor::load(config::Config& out, const config::UserDb& users, std::string& errors) {
  auto result = config::load_file(config_path_, users);
  if (!result.ok()) {
    for (const auto& d : result.errors) errors += d.str() + "\n";
    return false;
  }
  out = std::move(*result.config);
  return true;
}

std::shared_ptr<LogSink> Supervisor::pool_log(const config::Pool& pool) {
  if (!pool.error_log) return log_;
  auto& sink = pool_logs_[*pool.error_log];
  if (!sink) {
    std::string why;
    sink = LogSink::open(*pool.error_log, why);
    if (!sink) {
      error(pool.location_of("error-log").str() + ": " + why + "; using the supervisor's log");
      sink = log_;
    }
  }
  return sink;
}

std::string Supervisor::apply(const config::Config& config, const config::UserDb& users) {
  std::string problems;
  // Pools no longer configured: stop them, sockets and all.
  std::set<std::string_view> configured;
  for (const auto& pool : config.pools) configured.insert(pool.name);
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (!configured.contains(it->first)) {
      info("pool " + it->first + " removed: stopping it");
      Pool* raw = it->second.get();
      stopping_pools_.push_back(std::move(it->second));
      raw->stop([this, raw] { stopping_pools_.remove_if([&](const auto& p) { return p.get() == raw; }); });
      it = pools_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& pool : config.pools) {
    PoolSpec spec;
    std::string why;
    if (!make_pool_spec(pool, users, spec, why)) {
      problems += why + "\n";
      continue;
    }
    auto existing = pools_.find(pool.name);
    if (existing != pools_.end()) {
      Pool& old = *existing->second;
      if (old.spec().same_socket(spec) && old.socket_in_place()) {
        // What only the supervisor uses (the process manager's settings,
        // inactivity-timeout, ...) applies at once; what the workers were
        // started with needs new ones.
        bool workers_changed = old.spec().fingerprint() != spec.fingerprint();
        if (workers_changed) info("pool " + pool.name + " changed: replacing its processes");
        old.update(std::move(spec), workers_changed);
        continue;
      }
      // A new address or socket ownership: a new socket. Stop the old pool
      // first when it holds the same path.
      info("pool " + pool.name + " has a new socket: restarting it");
      // A socket file removed meanwhile is not kept: the new pool binds anew.
      bool same_path = old.spec().listen.str() == spec.listen.str() && old.socket_in_place();
      ListeningSocket inherited = same_path ? old.take_socket() : ListeningSocket();
      if (same_path && inherited.file) {
        // Same path, new owner or mode: change the socket's inode in place.
        if (!change_socket_ownership(inherited.file, spec.socket_owner, why))
          problems += pool.location_of("socket-mode").str() + ": cannot change the socket: " + why + "\n";
      }
      if (same_path) listen(inherited.fd.get(), spec.listen_backlog);
      restart_pool(pool, std::move(spec), std::move(inherited), problems);
      continue;
    }
    auto fresh = std::make_unique<Pool>(loop_, std::move(spec), pool_log(pool), zygotes_.get());
    // At start-up with many pools, one summary instead of a line a pool.
    if (!fresh->start(why, {}, !starting_many_)) {
      problems += pool.location_of("listen").str() + ": " + why + "\n";
      continue;
    }
    pools_[pool.name] = std::move(fresh);
  }
  return problems;
}

void Supervisor::restart_pool(const config::Pool& pool, PoolSpec spec, ListeningSocket socket, std::string& problems) {
  // The new pool first: if it cannot bind, the old one goes on serving.
  std::string why;
  auto fresh = std::make_unique<Pool>(loop_, std::move(spec), pool_log(pool), zygotes_.get());
  if (!fresh->start(why, std::move(socket))) {
    problems += pool.location_of("listen").str() + ": " + why + "\n";
    return;
  }
  auto existing = pools_.find(pool.name);
  if (existing != pools_.end()) {
    Pool* raw = existing->second.get();
    stopping_pools_.push_back(std::move(existing->second));
    raw->stop([this, raw] { stopping_pools_.remove_if([&](const auto& p) { return p.get() == raw; }); });
  }
  pools_[pool.name] = std::move(fresh);
}

// Someone removed what the supervisor made in its runtime directory (the
// whole directory, or the control socket): make it again, so that status,
// reload and stop keep working and frontends reach the pools.
void Supervisor::on_runtime_dir_change(bool recreated) {
  if (stopping_) return;
  if (recreated) error("runtime-dir " + runtime_dir_.path() + " was removed: made it again");
  if (control_.listening() && !control_.in_place()) {
    control_.close();
    std::string why;
    if (control_.listen(runtime_dir_.path() + "/control.sock", why)) {
      info("control socket bound again after its removal");
    } else {
      error(why + "; status, reload and stop now need a signal (SIGHUP, SIGTERM)");
    }
  }
  if (!recreated) return;
  std::string problems;
  for (const auto& pool : config_.pools) {
    auto it = pools_.find(pool.name);
    if (it == pools_.end() || it->second->socket_in_place()) continue;
    error("pool " + pool.name + ": its socket " + it->second->spec().listen.str() +
          " was removed: binding a new one and restarting the pool");
    restart_pool(pool, it->second->spec(), {}, problems);
  }
  if (!problems.empty()) error(problems);
}

std::string Supervisor::reload() {
  config::Config fresh;
  std::string errors;
  auto users = config::UserDbSnapshot::of_system();
  if (!load(fresh, users, errors)) {
    error("reload refused; the running configuration stays:\n" + errors);
    return errors + "wsgi-fpm reload: " + config_path_ + " is invalid; the running configuration is unchanged\n";
  }
  if (fresh.runtime_dir != config_.runtime_dir)
    info("runtime-dir changes take effect at the next start; sockets default to the old one meanwhile");
  info("reloading " + config_path_);
  std::string problems = apply(fresh, users);
  config_ = std::move(fresh);
  if (!problems.empty()) error(problems);
  give_back_free_heap();
  return problems;
}

void Supervisor::stop() {
  if (stopping_) return;
  stopping_ = true;
  info("stopping gracefully");
  control_.close();
  runtime_dir_.stop_watching();
  for (auto& [name, pool] : pools_) {
    Pool* raw = pool.get();
    stopping_pools_.push_back(std::move(pool));
    raw->stop([this, raw] {
      stopping_pools_.remove_if([&](const auto& p) { return p.get() == raw; });
      maybe_stopped();
    });
  }
  pools_.clear();
  // The zygotes go once the pools have: a pool may still be asking.
  maybe_stopped();
}

void Supervisor::maybe_stopped() {
  if (!stopping_pools_.empty()) return;
  if (zygotes_ && !zygotes_stopping_) {
    zygotes_stopping_ = true;
    zygotes_->stop([this] {
      zygotes_stopped_ = true;
      uv_stop(loop_);
    });
    return;
  }
  if (!zygotes_ || zygotes_stopped_) uv_stop(loop_);
}

void Supervisor::reopen_logs() {
  log_->reopen();
  for (auto& [path, sink] : pool_logs_) sink->reopen();
  info("log files reopened");
}

std::vector<PoolStatus> Supervisor::snapshot() const {
  std::vector<PoolStatus> out;
  for (const auto& pool : config_.pools) {
    auto it = pools_.find(pool.name);
    if (it != pools_.end()) out.push_back(it->second->status());
  }
  return out;
}

std::string Supervisor::handle_command(const std::string& command) {
  double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  if (command == "status") return "ok\n" + status_text(snapshot(), getpid(), uptime);
  if (command == "status json") return "ok\n" + status_json(snapshot(), getpid(), uptime);
  if (command == "reload") {
    std::string problems = reload();
    return problems.empty() ? "ok\n" : "error\n" + problems;
  }
  if (command == "stop") {
    // Reply first: stopping closes the control socket.
    if (!stop_later_) stop_later_.open(loop_);
    stop_later_.start(0, 0, [this] {
      stop_later_.close();
      stop();
    });
    // The client waits for this pid to exit (`wsgi-fpm stop` without --no-wait).
    return "ok\npid " + std::to_string(getpid()) + "\n";
  }
  return "error\nunknown command '" + command + "'\n";
}

int Supervisor::run() {
  started_ = std::chrono::steady_clock::now();
  std::string errors;
  auto users = config::UserDbSnapshot::of_system();
  if (!load(config_, users, errors)) {
    std::cerr << errors;
    return 1;
  }
  std::string why;
  log_ = LogSink::open(config_.log, why);
  if (!log_) {
    std::cerr << config_.location_of("log").str() << ": " << why << "\n";
    return 1;
  }
  if (!runtime_dir_.open(config_.runtime_dir, why)) {
    std::cerr << config_.location_of("runtime-dir").str() << ": " << why << "\n";
    return 1;
  }
  zygotes_ = std::make_unique<Zygotes>(loop_, log_);
  std::string control_path = config_.runtime_dir + "/control.sock";
  signal(SIGPIPE, SIG_IGN);
  info("starting with " + config_path_);
  DescriptorLimit before = raise_descriptor_limit();
  if (descriptor_limit().soft > before.soft)
    info(fmt::format("descriptor limit raised from {} to {} (workers keep {})", before.soft, descriptor_limit().soft,
                     before.soft));
  starting_many_ = config_.pools.size() > kPoolsLoggedOneByOne;
  std::string problems = apply(config_, users);
  if (starting_many_ && problems.empty()) {
    std::map<std::string, int> by_manager;
    int processes = 0;
    for (const auto& [name, pool] : pools_) {
      by_manager[to_string(pool->spec().manager.mode)]++;
      if (pool->spec().manager.mode == ProcessManagerMode::Static) processes += pool->spec().processes;
    }
    std::string kinds;
    for (const auto& [manager, n] : by_manager) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", n, manager);
    info(fmt::format("{} pools listening ({}); {} processes starting; `wsgi-fpm status` lists them", pools_.size(),
                     kinds, processes));
  }
  starting_many_ = false;
  give_back_free_heap();
  if (!problems.empty()) {
    std::cerr << problems;
    error("cannot start:\n" + problems);
    stop();
    uv_run(loop_, UV_RUN_DEFAULT);
    return 1;
  }
  if (!control_.listen(control_path, why)) {
    std::cerr << why << "\n";
    stop();
    uv_run(loop_, UV_RUN_DEFAULT);
    return 1;
  }
  runtime_dir_.watch([this](bool recreated) { on_runtime_dir_change(recreated); },
                     [this](const std::string& why) { error(why); });
  if (!reap_timer_.open(loop_)) {
    error("cannot make the reaping timer");
    return 1;
  }
  reap_timer_.unref();
  struct SignalAction { Signal* handle; int signum; std::function<void()> act; };
  for (auto& [handle, signum, act] : {SignalAction{&sigterm_, SIGTERM, [this] { stop(); }},
                                      SignalAction{&sigint_, SIGINT, [this] { stop(); }},
                                      SignalAction{&sighup_, SIGHUP, [this] { reload(); }},
                                      SignalAction{&sigusr1_, SIGUSR1, [this] { reopen_logs(); }},
                                      SignalAction{&sigchld_, SIGCHLD, [this] {
                                        // Not restarted while pending: a steady stream of exits
                                        // must not put the reaping off for ever.
                                        if (is_child_subreaper() && !reap_timer_.active())
                                          reap_timer_.start(1000, 0, [this] { reap_until_none_left(); });
                                      }}}) {
    if (!handle->open(loop_) || handle->start(signum, act) != 0) {
      error(fmt::format("cannot watch signal {}", signum));
      return 1;
    }
    handle->unref();
  }
  uv_run(loop_, UV_RUN_DEFAULT);
  if (is_child_subreaper()) reap_remaining_children(std::chrono::seconds(2));
  info("stopped");
  return 0;
}

void Supervisor::reap_until_none_left() {
  // A zombie is reaped only when seen twice (reap_unknown_children): look
  // again while one is left.
  if (reap_unknown_children()) reap_timer_.start(1000, 0, [this] { reap_until_none_left(); });
}


}  // namespace wsgi_fpm::supervisor
