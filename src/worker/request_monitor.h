// request-timeout, as mod_wsgi does it: a request running longer than
// request-timeout × (1 + ln threads) gets its Python stack written to the log
// with its URL; then, with interrupt-timeout set, RequestTimeout is raised in
// its thread alone (the request gets 504, the process lives on); otherwise,
// or if the thread is still stuck interrupt-timeout later, the process asks
// to be replaced gracefully.
//
// The monitor watches the scoreboard (wsgi_fpm/scoreboard.h), where each
// request's start and label are already recorded for the supervisor: the
// request path pays for them once. While requests run it wakes when the
// oldest could time out (at least once a second); with none running it
// sleeps until request_started() wakes it, which takes a lock only then, so
// a busy worker's requests take no lock for it at all.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "wsgi_fpm/scoreboard.h"

namespace wsgi_fpm::worker {

class RequestMonitor {
 public:
  struct Actions {
    std::function<std::string(int slot)> stack_of;                 // for the log
    std::function<bool(int slot, unsigned long ident)> interrupt;  // RequestTimeout
    std::function<void(const std::string& reason)> retire;        // replace the process
  };

  // Watches request threads 0..threads-1 of `board`, which outlives it.
  RequestMonitor(const Scoreboard& board, int threads, int request_timeout, int interrupt_timeout, Actions actions);

  bool enabled() const { return timeout_.count() > 0; }
  // Once per request thread before its first request: the Python thread
  // ident that RequestTimeout is raised in.
  void attach(int slot, unsigned long ident);
  // After the scoreboard recorded a request's start (Scoreboard::
  // request_started, which counts it busy): wakes the monitor if it sleeps
  // with nothing to watch.
  void request_started() {
    if (idle_wait_.load(std::memory_order_seq_cst)) wake_idle();
  }
  // The monitor thread's body; returns after stop().
  void run();
  void stop();

 private:
  using Clock = std::chrono::steady_clock;
  // What the monitor did about a slot's request (ThreadSlot::Request::
  // serial; kNone: nothing).
  struct Watch {
    static constexpr std::uint32_t kNone = 1;  // odd: never a request's serial
    std::atomic<unsigned long> ident{0};
    std::uint32_t reported = kNone;
    std::uint32_t interrupted = kNone;
    Clock::time_point interrupted_at;
  };
  void wake_idle();
  // Acts on slot `i`'s request if it is past its time (the lock is let go
  // while the actions run).
  void judge(std::unique_lock<std::mutex>& lock, std::size_t i, Clock::time_point now);

  const Scoreboard& board_;
  std::size_t threads_;
  std::chrono::duration<double> timeout_;
  std::chrono::seconds interrupt_timeout_;
  Actions actions_;
  std::unique_ptr<Watch[]> watches_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> idle_wait_{false};  // the monitor sleeps until a request starts
  bool stopping_ = false;
  bool retired_ = false;
};

}  // namespace wsgi_fpm::worker
