#include "worker/request_monitor.h"

#include <algorithm>
#include <cmath>

#include "util/log.h"

namespace wsgi_fpm::worker {

RequestMonitor::RequestMonitor(int threads, int request_timeout, int interrupt_timeout, Actions actions)
    : timeout_(request_timeout * (1.0 + std::log(std::max(threads, 1)))),
      interrupt_timeout_(interrupt_timeout),
      actions_(std::move(actions)),
      slots_(static_cast<std::size_t>(threads)) {}

void RequestMonitor::started(int slot, unsigned long ident, std::string_view method, std::string_view uri) {
  if (!enabled()) return;
  std::lock_guard lock(mutex_);
  Slot& s = slots_[static_cast<std::size_t>(slot)];
  s.busy = true;
  ++s.request;
  s.start = Clock::now();
  s.ident = ident;
  s.label.assign(method.substr(0, kLabelBytes));
  if (s.label.size() < kLabelBytes) s.label += ' ';
  s.label.append(uri.substr(0, kLabelBytes - s.label.size()));
  s.reported = s.interrupted = false;
  ++busy_;
  // Wake the monitor only when it sleeps without a deadline: under load it
  // already wakes by itself, so requests cost no extra context switch.
  if (idle_wait_) wake_.notify_one();
}

void RequestMonitor::finished(int slot) {
  if (!enabled()) return;
  std::lock_guard lock(mutex_);
  Slot& s = slots_[static_cast<std::size_t>(slot)];
  if (s.busy) --busy_;
  s.busy = false;
}

void RequestMonitor::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  wake_.notify_one();
}

void RequestMonitor::run() {
  if (!enabled()) return;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (busy_ == 0) {
      idle_wait_ = true;
      wake_.wait(lock, [&] { return stopping_ || busy_ > 0; });
      idle_wait_ = false;
      continue;
    }
    // Sleep until the oldest request could time out (or a second, at most,
    // while an interrupted one is being watched).
    auto now = Clock::now();
    auto next = now + std::chrono::seconds(1);
    for (auto& s : slots_) {
      if (!s.busy) continue;
      auto due = s.start + std::chrono::duration_cast<Clock::duration>(timeout_);
      if (!s.reported && due < next) next = due;
    }
    wake_.wait_until(lock, std::max(next, now + std::chrono::milliseconds(10)));
    now = Clock::now();
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      if (!s.busy) continue;
      double ran = std::chrono::duration<double>(now - s.start).count();
      if (!s.reported && ran >= timeout_.count()) {
        s.reported = true;
        Slot copy = s;
        lock.unlock();
        std::string stack = actions_.stack_of ? actions_.stack_of(static_cast<int>(i)) : std::string();
        log::write_lines(log::Level::Error,
                         fmt::format("{}: running {:.1f} s, past request-timeout ({:.1f} s with {} threads); "
                                     "Python stack of its thread:\n{}",
                                     copy.label, ran, timeout_.count(), slots_.size(),
                                     stack.empty() ? "  (no Python frame: blocked in C code)" : stack));
        bool interrupted = false;
        if (interrupt_timeout_.count() > 0 && actions_.interrupt) {
          interrupted = actions_.interrupt(static_cast<int>(i), copy.ident);
          if (interrupted) log::warning("{}: RequestTimeout raised in its thread", copy.label);
        }
        lock.lock();
        if (interrupted && slots_[i].busy && slots_[i].request == copy.request) {
          slots_[i].interrupted = true;
          slots_[i].interrupted_at = Clock::now();
        } else if (!interrupted && !retired_) {
          retired_ = true;
          lock.unlock();
          if (actions_.retire) actions_.retire("request-timeout");
          lock.lock();
        }
      } else if (s.interrupted && now - s.interrupted_at >= interrupt_timeout_ && !retired_) {
        // RequestTimeout did not end it (a C call that never returns to Python).
        retired_ = true;
        std::string label = s.label;
        lock.unlock();
        log::error("{}: still running interrupt-timeout after RequestTimeout; replacing the process", label);
        if (actions_.retire) actions_.retire("request-timeout");
        lock.lock();
      }
    }
  }
}

}  // namespace wsgi_fpm::worker
