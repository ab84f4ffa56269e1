// preload-fork: the pool's template process (worker/fork_template.h), which
// imported the pool's %{GLOBAL} applications and forks its workers.
// `template_` forks them; a touched script or a reload starts
// `next_template_`, which takes over (and the workers are replaced from it)
// once it is ready. It starts when a worker is wanted and goes once the pool
// has had no worker for template-idle-timeout.
#include <unistd.h>

#include "fmt/format.h"
#include "supervisor/pool.h"

namespace wsgi_fpm::supervisor {

using Clock = std::chrono::steady_clock;

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

}  // namespace wsgi_fpm::supervisor
