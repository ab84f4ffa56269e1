#include "supervisor/pool.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fmt/format.h"
#include "supervisor/child_reaper.h"
#include "util/descriptor_limit.h"

namespace wsgi_fpm::supervisor {

using Clock = std::chrono::steady_clock;

std::int64_t Pool::mtime_of(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

Pool::Pool(uv_loop_t* loop, PoolSpec spec, std::shared_ptr<LogSink> log, Zygotes* zygotes)
    : loop_(loop), spec_(std::move(spec)), log_(std::move(log)), zygotes_(zygotes) {
  handles_.on_all_closed([this] { maybe_finish_stop(); });
}

Pool::~Pool() {
  if (listen_fd_) remove_socket_file(socket_file_);
}

bool Pool::start(std::string& error, ListeningSocket socket, bool announce) {
  if (!socket.fd) {
    socket = listen_on(spec_.listen, spec_.socket_owner, spec_.listen_backlog, error);
    if (!socket.fd) return false;
  }
  listen_fd_ = std::move(socket.fd);
  socket_file_ = std::move(socket.file);
  spec_.worker.listen_fd = kListenFd;
  spec_.worker.supervisor_pid = getpid();
  spec_.worker.log_bare = true;
  spec_.worker.descriptor_limit = original_descriptor_limit().soft;
  if (spec_.preload_fork && !become_child_subreaper(error)) return false;
  slots_.resize(static_cast<std::size_t>(spec_.processes));
  if (!tick_timer_.open(loop_, &handles_) || !watch_pause_.open(loop_, &handles_)) {
    error = "cannot make the pool's timers";
    return false;
  }
  if (int rc = socket_watch_.open(loop_, listen_fd_.get(), &handles_); rc != 0) {
    error = std::string("cannot watch the listening socket: ") + uv_strerror(rc);
    return false;
  }
  if (spec_.preload_fork && !template_idle_timer_.open(loop_, &handles_)) {
    error = "cannot make the pool's timers";
    return false;
  }
  if (announce) log_->write_line("info", "wsgi-fpm", getpid(), description());
  // preload-fork: the first worker wanted starts the template (at once for
  // static), unless it is to stay (template-idle-timeout 0): then now.
  if (spec_.preload_fork && spec_.template_idle_timeout.count() == 0) start_template("pool started");
  fill_static_slots();
  tick();
  return true;
}

bool Pool::has_processes() const {
  // A template is no process of the pool's: it neither serves nor needs the tick.
  if (std::any_of(workers_.begin(), workers_.end(), [](const auto& w) { return !w->is_template(); })) return true;
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.empty(); });
}

std::string Pool::description() const {
  bool fixed = spec_.manager.mode == ProcessManagerMode::Static;
  return fmt::format("pool {} listening on {} ({}) with {}{} process{} of {} thread{}{}", spec_.name,
                     spec_.listen.str(), spec_.worker.protocol, fixed ? "" : "up to ", spec_.processes,
                     spec_.processes == 1 ? "" : "es", spec_.worker.threads, spec_.worker.threads == 1 ? "" : "s",
                     fixed ? std::string() : fmt::format(", {}", to_string(spec_.manager.mode)));
}

ListeningSocket Pool::take_socket() {
  return ListeningSocket{UniqueFd(fcntl(listen_fd_.get(), F_DUPFD_CLOEXEC, 0)), std::exchange(socket_file_, {})};
}

WorkerProcess* Pool::spawn(std::size_t slot) {
  // preload-fork: the template's ready event fills the slot (static), or the
  // connection still waiting then does (ondemand, dynamic).
  if (spec_.preload_fork && !template_ready()) {
    want_template("a worker is wanted");
    return nullptr;
  }
  WorkerProcess::Events events;
  events.ready = [this](WorkerProcess& w) { on_ready(w); };
  events.retire = [this](WorkerProcess& w, const std::string& reason, bool evicted) {
    if (slots_[w.slot()].current == &w) replace(w.slot(), reason, evicted ? Drain::Eviction : Drain::Graceful);
  };
  events.exited = [this](WorkerProcess& w, int64_t status, int sig) { on_exit(w, status, sig); };
  events.closed = [this](WorkerProcess& w) {
    workers_.remove_if([&](const auto& p) { return p.get() == &w; });
    maybe_finish_stop();
  };
  events.handed_over = [this](WorkerProcess& w, std::vector<UniqueFd> connections) {
    pass_on(w, std::move(connections));
  };
  auto w = std::make_unique<WorkerProcess>(loop_, slot, std::move(events));
  WorkerProcess::SpawnOptions o;
  o.executable = spec_.worker_executable;
  o.arguments = worker::worker_arguments(spec_.worker);
  o.environment = spec_.environment;
  o.listen_fd = listen_fd_.get();
  o.pool_name = spec_.name;
  o.log = log_;
  std::string error;
  WorkerProcess* raw = w.get();
  workers_.push_back(std::move(w));
  // Without preload-fork, the shared zygote forks the worker if it is ready
  // (zygote.h); if not, it is on its way and this one is spawned.
  WorkerProcess* zygote = !spec_.preload_fork && zygotes_ && !spec_.zygote.empty()
                              ? zygotes_->get(spec_.zygote, spec_.manager.idle_timeout)
                              : nullptr;
  bool started = spec_.preload_fork ? raw->fork_from(*template_, o, error)
                 : zygote           ? raw->fork_from(*zygote, o, error)
                                    : raw->spawn(o, error);
  if (!started) {
    // Out of descriptors (EMFILE), memory or processes: a spawn that failed
    // counts for the backoff like a process that died young, or it would be
    // retried at once, forever (seen: 130,952 log lines in a second, then
    // the supervisor aborted). What it made is freed: now if it opened
    // nothing, else once libuv has closed its handles.
    slots_[slot].quick_failures++;
    last_exit_ = error;
    if (!raw->closing()) workers_.remove_if([&](const auto& p) { return p.get() == raw; });
    schedule_respawn(slot, 0);
    return nullptr;
  }
  // A worker that never says "ready" within startup-timeout is killed and
  // counts as a failed start.
  if (spec_.startup_timeout > 0) {
    std::uint64_t serial = raw->serial();
    after(static_cast<std::uint64_t>(spec_.startup_timeout) * 1000, [this, serial] {
      for (auto& w : workers_) {
        if (w->serial() == serial && w->state() == WorkerProcess::State::Starting) {
          log_->write_line("error", spec_.name, w->pid(),
                           fmt::format("not ready after startup-timeout ({} s); killing it", spec_.startup_timeout));
          w->signal(SIGKILL);
        }
      }
    });
  }
  update_tick();  // a process to look after
  return raw;
}

std::chrono::milliseconds Pool::drain_time(Drain drain) const {
  int seconds = drain == Drain::Eviction ? spec_.worker.eviction_seconds() : spec_.worker.graceful_timeout;
  return std::chrono::seconds(seconds + spec_.worker.shutdown_timeout);
}

void Pool::replace(std::size_t slot, const std::string& reason, Drain drain) {
  if (stopping_) return;
  Slot& s = slots_[slot];
  if (s.successor) return;  // one already on its way
  if (!s.current) return;   // nothing running: a respawn or the manager covers it
  if (spec_.preload_fork && !template_ready()) {
    s.deferred_replace = std::make_pair(reason, drain);
    want_template(reason);
    return;
  }
  s.deferred_replace.reset();
  log_->write_line("info", spec_.name, s.current->pid(), "replacing this process: " + reason);
  s.drain = drain;
  s.reason = reason;
  s.successor = spawn(slot);
}

void Pool::replace_all(const std::string& reason) {
  // preload-fork: the template imported the old code; its successor must be
  // ready before the workers can be (replace() defers until then). With no
  // worker, the next one wanted starts a template with the new code.
  if (spec_.preload_fork) {
    if (!has_processes()) return stop_templates();
    start_template(reason);
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) replace(i, reason, Drain::Eviction);
}

void Pool::update(PoolSpec spec, bool replace_processes) {
  spec.worker.listen_fd = kListenFd;
  spec.worker.supervisor_pid = getpid();
  spec.worker.log_bare = true;
  spec.worker.descriptor_limit = original_descriptor_limit().soft;
  int old_processes = spec_.processes;
  // New processes load the scripts as they are now; old ones keep the times
  // they were started with, so a touch just before the reload still counts,
  // and an untouched pool costs no stat (1,000 of them on each reload).
  bool same_scripts = spec.scripts == spec_.scripts;
  spec_ = std::move(spec);
  if (replace_processes || !same_scripts) {
    script_mtimes_.clear();
    for (const auto& s : spec_.scripts) script_mtimes_[s] = mtime_of(s);
  }
  if (spec_.processes > old_processes) {
    slots_.resize(static_cast<std::size_t>(spec_.processes));
  } else if (spec_.processes < old_processes) {
    for (std::size_t i = static_cast<std::size_t>(spec_.processes); i < slots_.size(); ++i) {
      slots_[i].respawn_timer.stop();
      if (slots_[i].current) slots_[i].current->stop(drain_time(Drain::Eviction), SIGUSR2);
      if (slots_[i].successor) slots_[i].successor->stop(std::chrono::seconds(spec_.worker.shutdown_timeout));
      slots_[i].current = slots_[i].successor = nullptr;
    }
    // Timers of dropped slots stay until the pool stops (they are stopped).
  }
  if (!spec_.preload_fork) stop_templates();
  if (spec_.preload_fork && !template_idle_timer_ && !template_idle_timer_.open(loop_, &handles_))
    log_->write_line("error", spec_.name, getpid(), "cannot make the template's idle timer");
  if (replace_processes) {
    std::string error;
    if (spec_.preload_fork && !become_child_subreaper(error)) log_->write_line("error", spec_.name, getpid(), error);
    if (spec_.preload_fork && has_processes()) start_template("configuration changed");
    else if (spec_.preload_fork) stop_templates();  // the next worker wanted starts one with the new settings
    for (std::size_t i = 0; i < std::min<std::size_t>(slots_.size(), static_cast<std::size_t>(old_processes)); ++i)
      replace(i, "configuration changed", Drain::Eviction);
  }
  fill_static_slots();
  tick();
}

void Pool::fill_static_slots() {
  if (stopping_ || spec_.manager.mode != ProcessManagerMode::Static) return;
  for (std::size_t i = 0; i < static_cast<std::size_t>(spec_.processes); ++i) {
    if (slots_[i].empty()) slots_[i].current = spawn(i);
  }
}

bool Pool::spawn_in_empty_slot(const std::string& why) {
  for (std::size_t i = 0; i < static_cast<std::size_t>(spec_.processes); ++i) {
    if (!slots_[i].empty()) continue;
    slots_[i].quick_failures = 0;
    slots_[i].current = spawn(i);
    if (slots_[i].current) log_->write_line("info", spec_.name, getpid(), fmt::format("slot {} started: {}", i, why));
    return true;
  }
  return false;
}

void Pool::stop_idle(std::size_t slot, const std::string& why) {
  Slot& s = slots_[slot];
  if (!s.current || s.successor) return;
  log_->write_line("info", spec_.name, s.current->pid(), "stopping this process: " + why);
  s.current->set_stop_reason("stopped: " + why);
  // Nothing in flight: it has only idle keep-alive connections, which go to
  // another ready process if there is one (pass_on).
  s.current->stop(drain_time(Drain::Graceful));
  s.current = nullptr;
}

void Pool::on_ready(WorkerProcess& w) {
  Slot& s = slots_[w.slot()];
  logged_failure_step_ = 0;
  if (s.successor == &w) {
    WorkerProcess* old = s.current;
    s.current = &w;
    s.successor = nullptr;
    if (old) {
      old->set_stop_reason("replaced: " + s.reason);
      old->stop(drain_time(s.drain), s.drain == Drain::Eviction ? SIGUSR2 : SIGTERM);
    }
  }
  if (stopping_) w.stop(std::chrono::seconds(spec_.worker.shutdown_timeout));
  if (spec_.restart_interval > 0) {
    long pid = w.pid();
    after(static_cast<std::uint64_t>(spec_.restart_interval) * 1000, [this, pid] {
      for (auto& slot : slots_) {
        if (slot.current && slot.current->pid() == pid)
          replace(slot.current->slot(), "restart-interval reached", Drain::Graceful);
      }
    });
  }
}

void Pool::pass_on(WorkerProcess& from, std::vector<UniqueFd> connections) {
  if (stopping_) return;  // closed: no process of this pool will serve them
  WorkerProcess* own = from.slot() < slots_.size() ? slots_[from.slot()].current : nullptr;
  std::vector<WorkerProcess*> takers;
  if (own) takers.push_back(own);
  for (const auto& s : slots_) {
    if (s.current && s.current != own) takers.push_back(s.current);
  }
  for (WorkerProcess* w : takers) {
    if (w != &from && w->adopt_connections(connections)) return;
  }
  log_->write_line("warning", spec_.name, from.pid(),
                   fmt::format("no ready process to take {} idle keep-alive connection(s) of this one: closing them",
                               connections.size()));
}

void Pool::after(std::uint64_t ms, std::function<void()> fn) {
  if (stopping_) return;
  auto timer = one_shots_.emplace(one_shots_.end());
  if (!timer->open(loop_, &handles_)) {
    one_shots_.erase(timer);
    return;
  }
  // The callback runs on a copy of this lambda: erasing the timer (which
  // closes it) leaves `fn` to run.
  timer->start(ms, 0, [this, timer, fn = std::move(fn)] {
    one_shots_.erase(timer);
    fn();
  });
}

void Pool::on_exit(WorkerProcess& w, int64_t status, int sig) {
  retired_requests_ += w.requests_served();
  Slot& s = slots_[w.slot()];
  std::string reason = exit_reason(status, sig);
  bool expected = stopping_ || (s.current != &w && s.successor != &w);
  if (expected) {
    if (!stopping_)
      last_exit_ = reason + " after being " + (w.stop_reason().empty() ? "replaced or stopped" : w.stop_reason());
    log_->write_line("info", spec_.name, w.pid(), "stopped (" + reason + ")");
    maybe_finish_stop();
    return;
  }
  last_exit_ = reason;
  auto lived = Clock::now() - w.started();
  if (lived < std::chrono::seconds(10) || w.state() == WorkerProcess::State::Starting)
    s.quick_failures++;
  else
    s.quick_failures = 0;
  if (s.successor == &w) {
    // The replacement failed to start; the current process keeps serving.
    s.successor = nullptr;
    log_->write_line("error", spec_.name, w.pid(), "replacement process " + reason + " before it was ready");
    return;
  }
  // The current process of the slot died: a crash.
  s.current = nullptr;
  if (s.successor) {
    s.current = s.successor;  // already starting: let it take over
    s.successor = nullptr;
    log_->write_line("warning", spec_.name, w.pid(), reason + "; its replacement takes over");
    return;
  }
  schedule_respawn(w.slot(), w.pid());
}

void Pool::schedule_respawn(std::size_t slot, long dead_pid) {
  if (stopping_) return;
  Slot& s = slots_[slot];
  int delay_ms = backoff_ms(s.quick_failures);
  // Once per pool per backoff step: a pool whose every slot fails says so
  // once, not once a slot.
  if (s.quick_failures == 0 || s.quick_failures > logged_failure_step_) {
    logged_failure_step_ = std::max(logged_failure_step_, s.quick_failures);
    log_->write_line("warning", spec_.name, dead_pid ? dead_pid : getpid(),
                     fmt::format("worker slot {}: {}; starting a new one{}", slot, last_exit_,
                                 delay_ms ? fmt::format(" in {} ms", delay_ms) : std::string()));
  }
  if (!s.respawn_timer && !s.respawn_timer.open(loop_, &handles_)) {
    log_->write_line("error", spec_.name, getpid(), fmt::format("worker slot {}: cannot make its timer", slot));
    return;
  }
  s.respawn_timer.start(static_cast<std::uint64_t>(delay_ms), 0, [this, slot] {
    if (stopping_ || slot >= slots_.size()) return;
    Slot& s = slots_[slot];
    if (!s.current) {
      restarts_++;
      s.current = spawn(slot);
    }
  });
}

void Pool::stop(std::function<void()> done) {
  stopping_ = true;
  stopped_ = std::move(done);
  for (auto& s : slots_) s.respawn_timer.stop();
  for (auto& w : workers_) w->stop(std::chrono::seconds(spec_.worker.shutdown_timeout));
  close_timers();
  maybe_finish_stop();
}

void Pool::close_timers() {
  tick_timer_.close();
  template_idle_timer_.close();
  watch_pause_.close();
  socket_watch_.close();
  one_shots_.clear();
  for (auto& s : slots_) s.respawn_timer.close();
}

void Pool::maybe_finish_stop() {
  if (!stopping_ || !workers_.empty() || handles_.open() > 0 || !stopped_) return;
  if (listen_fd_) {
    listen_fd_.reset();
    remove_socket_file(socket_file_);
  }
  auto done = std::move(stopped_);
  stopped_ = nullptr;
  done();
}

}  // namespace wsgi_fpm::supervisor
