#include "worker/request_monitor.h"

#include <algorithm>
#include <cmath>

#include "util/log.h"

namespace wsgi_fpm::worker {

RequestMonitor::RequestMonitor(const Scoreboard& board, int threads, int request_timeout, int interrupt_timeout,
                               Actions actions)
    : board_(board),
      threads_(static_cast<std::size_t>(std::clamp<int>(threads, 1, static_cast<int>(kScoreboardThreads)))),
      timeout_(request_timeout * (1.0 + std::log(std::max(threads, 1)))),
      interrupt_timeout_(interrupt_timeout),
      actions_(std::move(actions)),
      watches_(std::make_unique<Watch[]>(threads_)) {}

void RequestMonitor::attach(int slot, unsigned long ident) {
  watches_[static_cast<std::size_t>(slot)].ident.store(ident, std::memory_order_relaxed);
}

void RequestMonitor::wake_idle() {
  // Taken so that the notification cannot fall between the monitor's last
  // look at the busy count and its wait (it holds the lock across both).
  std::lock_guard lock(mutex_);
  wake_.notify_one();
}

void RequestMonitor::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  wake_.notify_one();
}

void RequestMonitor::run() {
  if (!enabled()) return;
  auto timeout_us = static_cast<std::uint64_t>(timeout_.count() * 1e6);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (board_.busy_threads.load(std::memory_order_seq_cst) == 0) {
      // The flag and the count are both sequentially consistent: either
      // this look sees a request that started, or request_started() sees
      // the flag and wakes us.
      idle_wait_.store(true, std::memory_order_seq_cst);
      wake_.wait(lock, [&] { return stopping_ || board_.busy_threads.load(std::memory_order_seq_cst) > 0; });
      idle_wait_.store(false, std::memory_order_relaxed);
      continue;
    }
    // Sleep until the oldest request could time out (or a second, at most,
    // while an interrupted one is being watched).
    std::uint64_t now_us = monotonic_us();
    std::uint64_t next_us = now_us + 1000000;
    ThreadSlot::Request request;
    for (std::size_t i = 0; i < threads_; ++i) {
      if (!board_.threads[i].read(request) || watches_[i].reported == request.serial) continue;
      next_us = std::min(next_us, request.start_us + timeout_us);
    }
    auto sleep = std::chrono::microseconds(next_us > now_us ? next_us - now_us : 0);
    wake_.wait_for(lock, std::max<std::chrono::microseconds>(sleep, std::chrono::milliseconds(10)));
    auto now = Clock::now();
    for (std::size_t i = 0; i < threads_ && !stopping_; ++i) judge(lock, i, now);
  }
}

void RequestMonitor::judge(std::unique_lock<std::mutex>& lock, std::size_t i, Clock::time_point now) {
  ThreadSlot::Request request;
  if (!board_.threads[i].read(request)) return;
  Watch& watch = watches_[i];
  std::uint64_t now_us = monotonic_us();
  double ran = now_us > request.start_us ? static_cast<double>(now_us - request.start_us) / 1e6 : 0.0;
  if (watch.reported != request.serial && ran >= timeout_.count()) {
    watch.reported = request.serial;
    lock.unlock();
    std::string stack = actions_.stack_of ? actions_.stack_of(static_cast<int>(i)) : std::string();
    log::write_lines(log::Level::Error,
                     fmt::format("{}: running {:.1f} s, past request-timeout ({:.1f} s with {} threads); "
                                 "Python stack of its thread:\n{}",
                                 request.label, ran, timeout_.count(), threads_,
                                 stack.empty() ? "  (no Python frame: blocked in C code)" : stack));
    bool interrupted = false;
    if (interrupt_timeout_.count() > 0 && actions_.interrupt) {
      interrupted = actions_.interrupt(static_cast<int>(i), watch.ident.load(std::memory_order_relaxed));
      if (interrupted) log::warning("{}: RequestTimeout raised in its thread", request.label);
    }
    lock.lock();
    if (interrupted) {
      // Judged again interrupt-timeout from now, if the same request is
      // still running then.
      watch.interrupted = request.serial;
      watch.interrupted_at = Clock::now();
    } else if (!retired_) {
      retired_ = true;
      lock.unlock();
      if (actions_.retire) actions_.retire("request-timeout");
      lock.lock();
    }
  } else if (watch.interrupted == request.serial && now - watch.interrupted_at >= interrupt_timeout_ &&
             !retired_) {
    // RequestTimeout did not end it (a C call that never returns to Python).
    retired_ = true;
    lock.unlock();
    log::error("{}: still running interrupt-timeout after RequestTimeout; replacing the process", request.label);
    if (actions_.retire) actions_.retire("request-timeout");
    lock.lock();
  }
}

}  // namespace wsgi_fpm::worker
