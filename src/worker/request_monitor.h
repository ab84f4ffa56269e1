// request-timeout, as mod_wsgi does it: a request running longer than
// request-timeout × (1 + ln threads) gets its Python stack written to the log
// with its URL; then, with interrupt-timeout set, RequestTimeout is raised in
// its thread alone (the request gets 504, the process lives on); otherwise,
// or if the thread is still stuck interrupt-timeout later, the process asks
// to be replaced gracefully.
//
// request-timeout is on by default (60 s), so started() and finished() are on
// every request's path. They take one mutex and copy the label into a string
// whose capacity the slot keeps, so no allocation after a thread's first
// requests. Per-thread lock-free slots were tried and measured no faster
// (docs/benchmarks.md), so the simpler lock stays.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace wsgi_fpm::worker {

class RequestMonitor {
 public:
  struct Actions {
    std::function<std::string(int slot)> stack_of;                 // for the log
    std::function<bool(int slot, unsigned long ident)> interrupt;  // RequestTimeout
    std::function<void(const std::string& reason)> retire;        // replace the process
  };

  RequestMonitor(int threads, int request_timeout, int interrupt_timeout, Actions actions);

  bool enabled() const { return timeout_.count() > 0; }
  // Around each request on request thread `slot`; the label logged is
  // "METHOD URI", cut at kLabelBytes.
  void started(int slot, unsigned long ident, std::string_view method, std::string_view uri);
  void finished(int slot);
  // The monitor thread's body; returns after stop().
  void run();
  void stop();

  static constexpr std::size_t kLabelBytes = 256;

 private:
  using Clock = std::chrono::steady_clock;
  struct Slot {
    bool busy = false;
    std::uint64_t request = 0;  // counts the slot's requests: which one an interrupt hit
    Clock::time_point start;
    unsigned long ident = 0;
    std::string label;
    bool reported = false;
    bool interrupted = false;
    Clock::time_point interrupted_at;
  };
  std::chrono::duration<double> timeout_;
  std::chrono::seconds interrupt_timeout_;
  Actions actions_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Slot> slots_;
  int busy_ = 0;
  bool idle_wait_ = false;  // the monitor sleeps until the next request starts
  bool stopping_ = false;
  bool retired_ = false;
};

}  // namespace wsgi_fpm::worker
