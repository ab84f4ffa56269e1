#include "supervisor/zygote.h"

#include <unistd.h>

#include <algorithm>

#include "supervisor/child_reaper.h"
#include "fmt/format.h"
#include "util/descriptor_limit.h"
#include "worker/options.h"

namespace wsgi_fpm::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

// A zygote that is not ready within this is killed (a worker's
// startup-timeout default); one that dies young is tried again after 1 s,
// doubling to a minute, and meanwhile the pools spawn their workers.
constexpr auto kStartupTimeout = std::chrono::seconds(15);
constexpr std::int64_t kMinWaitMs = 10;

Clock::duration retry_delay(int failures) {
  return std::chrono::seconds(1 << std::min(failures - 1, 6));
}

}  // namespace

Zygotes::Zygotes(uv_loop_t* loop, std::shared_ptr<LogSink> log) : loop_(loop), log_(std::move(log)) {
  handles_.on_all_closed([this] { maybe_done(); });
}

Zygotes::~Zygotes() = default;

WorkerProcess* Zygotes::get(const std::string& key, std::chrono::seconds idle_timeout) {
  if (stopping_ || subreaper_failed_ || key.empty()) return nullptr;
  if (descriptors_short()) {
    for (auto& [k, e] : live_) {
      log_->write_line("warning", "zygote", e.process->pid(), "stopping it: the supervisor is short of descriptors");
      e.process->stop(std::chrono::seconds(5));
      exiting_.push_back(std::move(e.process));
    }
    live_.clear();
    update_timer();
    return nullptr;
  }
  auto it = live_.find(key);
  if (it == live_.end()) {
    auto failed = failures_.find(key);
    if (failed == failures_.end() || Clock::now() >= failed->second.retry_after) start(key, idle_timeout);
    return nullptr;
  }
  Entry& e = it->second;
  e.last_used = Clock::now();
  e.idle_timeout = std::max(e.idle_timeout, idle_timeout);
  return e.ready && e.process->state() == WorkerProcess::State::Ready ? e.process.get() : nullptr;
}

void Zygotes::keep(const std::string& key) {
  if (auto it = live_.find(key); it != live_.end()) it->second.last_used = Clock::now();
}

bool Zygotes::descriptors_short() {
  auto now = Clock::now();
  if (now - descriptors_checked_ < std::chrono::seconds(1)) return descriptors_short_;
  descriptors_checked_ = now;
  constexpr std::uint64_t kReserve = 64;
  descriptors_short_ = descriptor_limit().soft < open_descriptors() + kReserve;
  return descriptors_short_;
}

void Zygotes::start(const std::string& key, std::chrono::seconds idle_timeout) {
  std::string error;
  // Its workers must become our children, as a template's do.
  if (!subreaper_ && !(subreaper_ = become_child_subreaper(error))) {
    subreaper_failed_ = true;
    log_->write_line("error", "wsgi-fpm", getpid(), "no zygote: " + error + "; workers are spawned");
    return;
  }
  // The key is the executable, then the environment Python starts in.
  std::vector<std::string> lines;
  for (std::size_t start = 0, end; start <= key.size(); start = end + 1) {
    end = std::min(key.find('\n', start), key.size());
    lines.push_back(key.substr(start, end - start));
  }
  WorkerProcess::SpawnOptions o;
  o.executable = lines.front();
  o.environment = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  o.environment.insert(o.environment.end(), lines.begin() + 1, lines.end());
  worker::WorkerOptions w;
  w.zygote = true;
  w.pool = "zygote";
  w.supervisor_pid = getpid();
  w.log_bare = true;
  w.display_name = "";  // keep the executable's name: the zygote is no pool's
  o.arguments = worker::worker_arguments(w);
  o.listen_fd = -1;
  o.pool_name = "zygote";
  o.log = log_;
  o.fork_template = true;
  o.zygote = true;

  WorkerProcess::Events events;
  events.ready = [this](WorkerProcess& z) {
    for (auto& [k, e] : live_) {
      if (e.process.get() != &z) continue;
      e.ready = true;
      e.last_used = Clock::now();
      failures_.erase(k);
      log_->write_line("info", "zygote", z.pid(), "ready: cold workers are forked from it");
    }
    update_timer();
  };
  events.retire = [](WorkerProcess&, const std::string&, bool) {};
  events.exited = [this](WorkerProcess& z, int64_t status, int sig) { on_exit(z, status, sig); };
  events.closed = [this](WorkerProcess& z) { on_closed(z); };
  auto process = std::make_unique<WorkerProcess>(loop_, 0, std::move(events));
  if (!process->spawn(o, error)) {
    auto& f = failures_[key];
    f.count++;
    f.retry_after = Clock::now() + retry_delay(f.count);
    log_->write_line("error", "zygote", getpid(), "cannot start a zygote: " + error);
    if (process->closing()) exiting_.push_back(std::move(process));
    return;
  }
  log_->write_line("info", "zygote", process->pid(), "starting");
  Entry& e = live_[key];
  e.process = std::move(process);
  e.last_used = Clock::now();
  e.idle_timeout = idle_timeout;
  update_timer();
}

void Zygotes::on_exit(WorkerProcess& z, int64_t status, int sig) {
  std::string how = sig ? fmt::format("killed by signal {}", sig) : exited_with(status);
  for (auto it = live_.begin(); it != live_.end(); ++it) {
    if (it->second.process.get() != &z) continue;
    // Not asked to: its pending forks have failed (their pools spawn
    // instead), and the next worker that wants it starts another.
    if (!it->second.ready) {
      auto& f = failures_[it->first];
      f.count++;
      f.retry_after = Clock::now() + retry_delay(f.count);
    }
    log_->write_line(it->second.ready ? "warning" : "error", "zygote", z.pid(),
                     how + (it->second.ready ? "" : " before it was ready"));
    exiting_.push_back(std::move(it->second.process));
    live_.erase(it);
    update_timer();
    return;
  }
  log_->write_line("info", "zygote", z.pid(), "stopped (" + how + ")");
}

void Zygotes::on_closed(WorkerProcess& z) {
  exiting_.remove_if([&](const auto& p) { return p.get() == &z; });
  maybe_done();
}

void Zygotes::check_idle() {
  auto now = Clock::now();
  for (auto it = live_.begin(); it != live_.end();) {
    Entry& e = it->second;
    std::string why;
    if (!e.ready && now - e.process->started() >= kStartupTimeout)
      why = fmt::format("not ready after {} s; killing it", kStartupTimeout.count());
    else if (e.ready && now - e.last_used >= e.idle_timeout)
      why = fmt::format("unused for {} s: stopping it", e.idle_timeout.count());
    if (why.empty()) {
      ++it;
      continue;
    }
    log_->write_line(e.ready ? "info" : "error", "zygote", e.process->pid(), why);
    if (e.ready) {
      e.process->stop(std::chrono::seconds(5));
    } else {
      e.process->signal(SIGKILL);
      auto& f = failures_[it->first];
      f.count++;
      f.retry_after = now + retry_delay(f.count);
    }
    exiting_.push_back(std::move(e.process));
    it = live_.erase(it);
  }
  update_timer();
}

// One timer, for the earliest moment a zygote could be due (its idle time
// after its last use, or its start-up time): it fires once per idle time
// while the zygote is kept, and an idle host, with none, has no timer.
void Zygotes::update_timer() {
  bool wanted = !live_.empty() && !stopping_;
  if (wanted) {
    auto due = Clock::time_point::max();
    for (const auto& [key, e] : live_)
      due = std::min(due, e.ready ? e.last_used + e.idle_timeout : e.process->started() + kStartupTimeout);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count();
    if (!idle_timer_) idle_timer_.open(loop_, &handles_);
    idle_timer_.start(static_cast<std::uint64_t>(std::max<std::int64_t>(wait, kMinWaitMs)), 0,
                      [this] { check_idle(); });
  } else if (idle_timer_) {
    idle_timer_.close();  // maybe_done() once it is closed (handles_)
  }
}

void Zygotes::stop(std::function<void()> done) {
  stopping_ = true;
  stopped_ = std::move(done);
  for (auto& [key, e] : live_) {
    e.process->stop(std::chrono::seconds(5));
    exiting_.push_back(std::move(e.process));
  }
  live_.clear();
  update_timer();
  maybe_done();
}

void Zygotes::maybe_done() {
  if (!stopping_ || !exiting_.empty() || handles_.open() > 0 || !stopped_) return;
  auto done = std::move(stopped_);
  stopped_ = nullptr;
  done();
}

}  // namespace wsgi_fpm::supervisor
