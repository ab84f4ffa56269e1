// The pool's once-a-second look at its processes (scripts touched, the
// process manager's plan: deadlocks, idle and spare processes, memory),
// the socket watch that starts a process for a waiting connection, and the
// pool's status.
#include <unistd.h>

#include "fmt/format.h"
#include "supervisor/child_reaper.h"
#include "supervisor/pool.h"

namespace wsgi_fpm::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

// How often the pool looks at its workers, and how long a look at a waiting
// connection silences the socket watch (so a busy socket wakes the
// supervisor at most ten times a second, not once per connection).
constexpr std::uint64_t kTickMs = 1000;
constexpr std::uint64_t kWatchPauseMs = 100;

long seconds_of(Clock::duration d) { return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(d).count()); }

// A size as the config spells it (256M, 1G), or in tenths of a megabyte.
std::string size_text(std::uint64_t bytes) {
  for (auto [unit, suffix] : {std::pair{1ull << 30, 'G'}, std::pair{1ull << 20, 'M'}}) {
    if (bytes >= unit && bytes % unit == 0) return fmt::format("{}{}", bytes / unit, suffix);
  }
  return fmt::format("{:.1f}M", static_cast<double>(bytes) / (1 << 20));
}

}  // namespace

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
    if (int rc = socket_watch_.start(UV_READABLE, [this](int, int) { on_connection_waiting(); }); rc != 0) {
      // The tick's plan still grows the pool (dynamic's min-spare); a
      // connection waiting with no thread free is not seen until then.
      log_->write_line("error", spec_.name, getpid(),
                       std::string("cannot watch the listening socket: ") + uv_strerror(rc));
    }
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
