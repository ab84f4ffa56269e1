// request-timeout, as mod_wsgi does it: a request running longer than
// request-timeout × (1 + ln threads) gets its Python stack written to the log
// with its URL; then, with interrupt-timeout set, RequestTimeout is raised in
// its thread alone (the request gets 504, the process lives on); otherwise,
// or if the thread is still stuck interrupt-timeout later, the process asks
// to be replaced gracefully.
//
// request-timeout is on by default (60 s), so started() and finished() are on
// every request's path: each touches only its own thread's slot, with atomic
// stores and no lock or allocation, so request threads never contend here.
// The monitor thread reads the slots; it takes its mutex only to sleep while
// no request runs, and a request wakes it only then.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace wsgi_fpm::worker {

class RequestMonitor {
 public:
  struct Actions {
    std::function<std::string(unsigned long ident)> stack_of;     // for the log
    std::function<bool(int slot, unsigned long ident)> interrupt;  // RequestTimeout
    std::function<void(const std::string& reason)> retire;        // replace the process
  };

  RequestMonitor(int threads, int request_timeout, int interrupt_timeout, Actions actions);

  bool enabled() const { return timeout_.count() > 0; }
  // Called by request thread `slot` (and only by it) around each request;
  // the label logged is "METHOD URI", cut at kLabelBytes.
  void started(int slot, unsigned long ident, std::string_view method, std::string_view uri);
  void finished(int slot);
  // The monitor thread's body; returns after stop().
  void run();
  void stop();

  static constexpr std::size_t kLabelBytes = 256;

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kLabelWords = kLabelBytes / 8;

  // Written by one request thread, read by the monitor. The label is a
  // seqlock: `sequence` is odd while the owner rewrites it, and the monitor
  // keeps a copy only if it read the same even value before and after. Words
  // are relaxed atomics so that reading them while they change is no data
  // race (ThreadSanitizer checks this in tests/unit/test_request_monitor.cc).
  struct alignas(64) Slot {
    std::atomic<std::int64_t> started_ns{0};  // steady clock; 0: no request
    std::atomic<std::uint64_t> sequence{0};   // +2 per request
    std::atomic<unsigned long> ident{0};
    std::atomic<std::uint32_t> label_length{0};
    std::array<std::atomic<std::uint64_t>, kLabelWords> label{};
  };
  // What the monitor did about the request `sequence` of a slot (its own).
  struct Watch {
    std::uint64_t sequence = 1;  // odd: no request watched
    bool reported = false;
    bool interrupted = false;
    Clock::time_point interrupted_at;
  };
  struct Running {
    std::int64_t started_ns;
    std::uint64_t sequence;
  };

  static std::int64_t now_ns();
  Running running(std::size_t slot) const;
  std::string label_of(std::size_t slot, std::uint64_t sequence) const;
  bool any_running() const;

  std::chrono::duration<double> timeout_;
  std::chrono::seconds interrupt_timeout_;
  Actions actions_;
  std::unique_ptr<Slot[]> slots_;
  std::size_t slot_count_;
  std::vector<Watch> watches_;  // the monitor thread's only

  std::mutex mutex_;  // guards stopping_ and woken_, and the idle sleep
  std::condition_variable wake_;
  std::atomic<bool> idle_wait_{false};  // the monitor sleeps until a request starts
  bool woken_ = false;
  bool stopping_ = false;
  bool retired_ = false;  // the monitor thread's only
};

}  // namespace wsgi_fpm::worker
