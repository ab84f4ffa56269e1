#include "supervisor/pool.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fmt/format.h"
#include "util/descriptor_limit.h"

namespace wsgi_fpm::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

// How often the pool looks at its workers, and how long a look at a waiting
// connection silences the socket watch (so a busy socket wakes the
// supervisor at most ten times a second, not once per connection).
constexpr std::uint64_t kTickMs = 1000;
constexpr std::uint64_t kWatchPauseMs = 100;

std::string exit_reason(int64_t status, int term_signal) {
  if (term_signal) return fmt::format("killed by signal {} ({})", term_signal, strsignal(term_signal));
  return exited_with(status);
}

std::int64_t mtime_of(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// Exponential backoff for a process that keeps dying young, so a broken
// application never becomes a fork loop: none, then 100 ms doubling to 30 s.
int backoff_ms(int failures) { return failures == 0 ? 0 : std::min(100 << std::min(failures - 1, 9), 30000); }

long seconds_of(Clock::duration d) { return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(d).count()); }

// A size as the config spells it (256M, 1G), or in tenths of a megabyte.
std::string size_text(std::uint64_t bytes) {
  for (auto [unit, suffix] : {std::pair{1ull << 30, 'G'}, std::pair{1ull << 20, 'M'}}) {
    if (bytes >= unit && bytes % unit == 0) return fmt::format("{}{}", bytes / unit, suffix);
  }
  return fmt::format("{:.1f}M", static_cast<double>(bytes) / (1 << 20));
}

}  // namespace

std::vector<std::string> PoolSpec::fingerprint() const {
  // What the pool itself fills in at start is not part of the identity.
  worker::WorkerOptions w = worker;
  w.supervisor_pid = 0;
  w.descriptor_limit = 0;
  w.listen_fd = kListenFd;
  w.log_bare = true;
  auto f = worker::worker_arguments(w);
  f.insert(f.end(), environment.begin(), environment.end());
  f.push_back(worker_executable);
  f.push_back(std::to_string(processes));
  f.push_back(std::to_string(restart_interval));
  f.push_back(preload_fork ? "preload-fork" : "");
  return f;
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

// The once-a-second look runs only while the pool has processes: an idle
// ondemand pool is woken by its socket watch alone (1,000 idle pools cost a
// whole 1% of a core in ticks that found nothing to do).
void Pool::update_tick() {
  if (!tick_timer_) return;
  bool active = tick_timer_.active();
  bool wanted = !stopping_ && has_processes();
  if (wanted && !active) {
    // Scripts changed while nothing ran are what the new processes load.
    for (const auto& s : spec_.scripts) script_mtimes_[s] = mtime_of(s);
    tick_timer_.start(kTickMs, kTickMs, [this] { tick(); });
  } else if (!wanted && active) {
    tick_timer_.stop();
  }
  update_template_idle();
}

// preload-fork: an idle tenant costs nothing, template included. Once the
// pool has had no worker for template-idle-timeout, its template goes; the
// next worker wanted starts another (each held 3 MB PSS and 5 descriptors:
// 3.1 GB for 1,000 idle pools).
void Pool::update_template_idle() {
  if (!template_idle_timer_) return;
  bool idle = !stopping_ && (template_ || next_template_) && !has_processes() &&
              spec_.template_idle_timeout.count() > 0;
  bool active = template_idle_timer_.active();
  if (idle && !active) {
    auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             spec_.template_idle_timeout).count());
    template_idle_timer_.start(ms, 0, [this] {
      if (has_processes() || (!template_ && !next_template_)) return;
      log_->write_line("info", spec_.name, template_ ? template_->pid() : getpid(),
                       fmt::format("stopping the template: no worker for {} s (template-idle-timeout)",
                                   spec_.template_idle_timeout.count()));
      stop_templates();
    });
  } else if (!idle && active) {
    template_idle_timer_.stop();
  }
}

void Pool::want_template(const std::string& reason) {
  if (template_ || next_template_ || stopping_ || Clock::now() < template_retry_after_) return;
  start_template(reason);
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
  int seconds = drain == Drain::Eviction ? spec_.worker.eviction_timeout : spec_.worker.graceful_timeout;
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

bool Pool::template_ready() const {
  return template_ && template_->state() == WorkerProcess::State::Ready && !next_template_;
}

void Pool::start_template(const std::string& reason) {
  if (stopping_) return;
  if (next_template_) {
    // It may have imported the code that just changed: start over.
    next_template_->stop(std::chrono::seconds(spec_.worker.shutdown_timeout));
    next_template_ = nullptr;
  }
  WorkerProcess::Events events;
  events.ready = [this](WorkerProcess& t) { on_template_ready(t); };
  events.retire = [](WorkerProcess&, const std::string&, bool) {};
  events.exited = [this](WorkerProcess& t, int64_t status, int sig) { on_template_exit(t, status, sig); };
  events.closed = [this](WorkerProcess& t) {
    workers_.remove_if([&](const auto& p) { return p.get() == &t; });
    maybe_finish_stop();
  };
  auto t = std::make_unique<WorkerProcess>(loop_, slots_.size(), std::move(events));
  WorkerProcess::SpawnOptions o;
  o.executable = spec_.worker_executable;
  worker::WorkerOptions options = spec_.worker;
  options.fork_template = true;
  o.arguments = worker::worker_arguments(options);
  o.environment = spec_.environment;
  o.listen_fd = listen_fd_.get();
  o.pool_name = spec_.name;
  o.log = log_;
  o.fork_template = true;
  std::string error;
  WorkerProcess* raw = t.get();
  workers_.push_back(std::move(t));
  // The zygote forks the template too, if it is ready: a cold tenant with
  // preload-fork then waits for two forks and its app's import.
  WorkerProcess* zygote =
      zygotes_ && !spec_.zygote.empty() ? zygotes_->get(spec_.zygote, spec_.manager.idle_timeout) : nullptr;
  if (!(zygote ? raw->fork_from(*zygote, o, error) : raw->spawn(o, error))) {
    log_->write_line("error", spec_.name, getpid(), "cannot start the template: " + error);
    template_failures_++;
    template_retry_after_ = Clock::now() + std::chrono::milliseconds(backoff_ms(template_failures_));
    after(static_cast<std::uint64_t>(backoff_ms(template_failures_)),
          [this] { if (!next_template_ && has_processes()) start_template("retrying"); });
    if (!raw->closing()) workers_.remove_if([&](const auto& p) { return p.get() == raw; });
    return;
  }
  next_template_ = raw;
  log_->write_line("info", spec_.name, raw->pid(), "template starting (" + reason + ")");
  update_template_idle();
  if (spec_.startup_timeout > 0) {
    std::uint64_t serial = raw->serial();
    after(static_cast<std::uint64_t>(spec_.startup_timeout) * 1000, [this, serial] {
      if (next_template_ && next_template_->serial() == serial &&
          next_template_->state() == WorkerProcess::State::Starting) {
        log_->write_line("error", spec_.name, next_template_->pid(),
                         fmt::format("template not ready after startup-timeout ({} s); killing it",
                                     spec_.startup_timeout));
        next_template_->signal(SIGKILL);
      }
    });
  }
}

void Pool::on_template_ready(WorkerProcess& t) {
  if (&t != next_template_ || stopping_) return;
  WorkerProcess* old = template_;
  template_ = &t;
  next_template_ = nullptr;
  template_failures_ = 0;
  log_->write_line("info", spec_.name, t.pid(), "template ready: workers are forked from it");
  if (old) old->stop(std::chrono::seconds(spec_.worker.shutdown_timeout));
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (auto deferred = slots_[i].deferred_replace) replace(i, deferred->first, deferred->second);
  }
  fill_static_slots();
  // A connection that started the template waits (ondemand, dynamic): look
  // at the socket now, not once the watch's pause is over (100 ms after the
  // connection came: a cold preload-fork tenant waited that long, 111-117 ms,
  // in scripts/bench --density).
  watch_pause_.stop();
  tick();
}

void Pool::on_template_exit(WorkerProcess& t, int64_t status, int sig) {
  std::string reason = exit_reason(status, sig);
  if (stopping_ || (&t != template_ && &t != next_template_)) {
    log_->write_line("info", spec_.name, t.pid(), "template stopped (" + reason + ")");
    maybe_finish_stop();
    return;
  }
  bool wanted = has_processes();  // else the next worker wanted starts one
  if (&t == template_) {
    template_ = nullptr;
    log_->write_line("warning", spec_.name, t.pid(),
                     "template " + reason +
                         (wanted ? "; its workers keep serving, a new template is starting" : ""));
  } else {
    next_template_ = nullptr;
    template_failures_++;
    log_->write_line("error", spec_.name, t.pid(), "template " + reason + " before it was ready");
  }
  last_exit_ = "template " + reason;
  int delay_ms = backoff_ms(template_failures_);
  template_retry_after_ = Clock::now() + std::chrono::milliseconds(delay_ms);
  if (wanted)
    after(static_cast<std::uint64_t>(delay_ms), [this] { if (!next_template_) start_template("the last one exited"); });
  update_template_idle();
}

void Pool::stop_templates() {
  for (WorkerProcess* t : {template_, next_template_}) {
    if (t) t->stop(std::chrono::seconds(spec_.worker.shutdown_timeout));
  }
  template_ = next_template_ = nullptr;
  update_template_idle();
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

void Pool::check_scripts() {
  bool touched = false;
  for (auto& [path, mtime] : script_mtimes_) {
    auto now = mtime_of(path);
    if (now != mtime) {
      mtime = now;
      touched = true;
      log_->write_line("info", spec_.name, getpid(), "script " + path + " changed: replacing processes");
    }
  }
  if (touched) replace_all("script changed");
}

PoolLimits Pool::limits() const {
  PoolLimits l;
  l.processes = spec_.processes;
  l.threads = spec_.worker.threads;
  l.inactivity_timeout = std::chrono::seconds(spec_.inactivity_timeout);
  l.deadlock_timeout = std::chrono::seconds(spec_.worker.deadlock_timeout);
  l.maximum_memory = spec_.maximum_memory;
  return l;
}

std::vector<ProcessView> Pool::views(Clock::time_point now) const {
  std::vector<ProcessView> out;
  for (std::size_t i = 0; i < std::min(slots_.size(), static_cast<std::size_t>(spec_.processes)); ++i) {
    const Slot& s = slots_[i];
    if (s.current) {
      out.push_back(s.current->view(now));
      out.back().replacing = s.successor || s.deferred_replace;
    } else if (s.successor || s.respawn_pending()) out.push_back(ProcessView{});  // starting: not ready
  }
  return out;
}

long Pool::slot_of(long pid) const {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].current && slots_[i].current->pid() == pid) return static_cast<long>(i);
  }
  return -1;
}

void Pool::tick() {
  if (stopping_) return;
  // Once we are a subreaper, the orphans of every worker's children are
  // ours to reap (once a second for all pools, however many ask).
  if (is_child_subreaper()) reap_unknown_children();
  if (zygotes_ && !spec_.zygote.empty()) zygotes_->keep(spec_.zygote);
  // Without processes there is nothing to replace (and update_tick takes the
  // times afresh when one starts).
  if (spec_.script_reloading && has_processes()) check_scripts();
  auto now = Clock::now();
  for (auto& s : slots_) {
    // With maximum-memory, one read of /proc/PID/statm per process a tick
    // (10-12 us each, measured here).
    if (s.current) s.current->observe(now, spec_.maximum_memory > 0);
  }
  auto plan = plan_tick(spec_.manager, limits(), views(now));
  for (long pid : plan.deadlocked) {
    long i = slot_of(pid);
    if (i < 0) continue;
    Slot& s = slots_[static_cast<std::size_t>(i)];
    log_->write_line("error", spec_.name, pid,
                     fmt::format("no thread could take the Python GIL for {} s (deadlock-timeout): replacing "
                                 "this process; its requests in flight are lost",
                                 seconds_of(s.current->view(now).gil_stalled)));
    replace(static_cast<std::size_t>(i), "deadlock-timeout", Drain::Graceful);
    // It cannot finish anything: stop it now rather than once the successor is ready.
    s.current->set_stop_reason("replaced: deadlock-timeout");
    s.current->stop(std::chrono::seconds(spec_.worker.shutdown_timeout));
  }
  for (long pid : plan.stop) {
    long i = slot_of(pid);
    if (i >= 0)
      stop_idle(static_cast<std::size_t>(i),
                spec_.manager.mode == ProcessManagerMode::Ondemand
                    ? fmt::format("idle for {} s (process-idle-timeout)", spec_.manager.idle_timeout.count())
                    : fmt::format("more than max-spare ({}) spare processes", spec_.manager.max_spare));
  }
  for (long pid : plan.over_memory) {
    long i = slot_of(pid);
    if (i >= 0)
      replace(static_cast<std::size_t>(i),
              fmt::format("maximum-memory (RSS {} > {})",
                          size_text(slots_[static_cast<std::size_t>(i)].current->view(now).rss_bytes),
                          size_text(spec_.maximum_memory)),
              Drain::Graceful);
  }
  for (long pid : plan.replace_idle) {
    long i = slot_of(pid);
    if (i >= 0)
      replace(static_cast<std::size_t>(i), fmt::format("idle for {} s (inactivity-timeout)", spec_.inactivity_timeout),
              Drain::Graceful);
  }
  for (int n = 0; n < plan.spawn; ++n) {
    if (!spawn_in_empty_slot(fmt::format("fewer than min-spare ({}) spare processes", spec_.manager.min_spare))) break;
  }
  update_socket_watch();
  update_tick();  // stops once the pool has no process left
}

void Pool::update_socket_watch() {
  if (!socket_watch_) return;
  auto live = static_cast<int>(views(Clock::now()).size());
  bool want = !stopping_ && watches_socket(spec_.manager, limits(), live);
  bool paused = watch_pause_.active();
  if (want && !paused) {
    // An error on the socket is looked at like a connection: the pause keeps
    // either from spinning. Started already, it stays as it is: starting it
    // again costs libuv an epoll_ctl or two (2,000 on a reload of 1,000 pools).
    if (socket_watch_.active()) return;
    socket_watch_.start(UV_READABLE, [this](int, int) { on_connection_waiting(); });
  } else {
    socket_watch_.stop();
  }
}

void Pool::on_connection_waiting() {
  // Level-triggered: silence the watch while workers take the connection.
  socket_watch_.stop();
  watch_pause_.start(kWatchPauseMs, 0, [this] { update_socket_watch(); });
  auto now = Clock::now();
  if (spawn_for_waiting_connection(spec_.manager, limits(), views(now)))
    spawn_in_empty_slot("a connection waits and no thread is free");
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

PoolStatus Pool::status() const {
  PoolStatus st;
  st.name = spec_.name;
  st.address = spec_.listen.str();
  st.protocol = spec_.worker.protocol;
  st.user = spec_.user_name;
  st.process_manager = to_string(spec_.manager.mode);
  st.processes = spec_.processes;
  st.threads = spec_.worker.threads;
  st.requests = retired_requests_;
  st.restarts = restarts_;
  st.last_exit = last_exit_;
  if (template_) {
    auto ts = template_->status();
    st.template_pid = ts.pid;
    st.template_rss_bytes = ts.rss_bytes;
  }
  for (const auto& w : workers_) {
    if (w->state() == WorkerProcess::State::Exited || w->is_template()) continue;
    auto ps = w->status();
    st.requests += ps.requests;
    st.in_flight += ps.in_flight.size();
    st.workers.push_back(std::move(ps));
  }
  return st;
}

}  // namespace wsgi_fpm::supervisor
