// request-timeout, as mod_wsgi does it: a request running longer than
// request-timeout × (1 + ln threads) gets its Python stack written to the log
// with its URL; then, with interrupt-timeout set, RequestTimeout is raised in
// its thread alone (the request gets 504, the process lives on); otherwise,
// or if the thread is still stuck interrupt-timeout later, the process asks
// to be replaced gracefully.
#pragma once

#include <Python.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace wsgi_fpm::worker {

class RequestMonitor {
 public:
  struct Actions {
    std::function<std::string(unsigned long ident)> stack_of;                     // for the log
    std::function<bool(int slot, unsigned long ident)> interrupt;                  // RequestTimeout
    std::function<void(const std::string& reason)> retire;                         // replace the process
  };

  RequestMonitor(int threads, int request_timeout, int interrupt_timeout, Actions actions);

  bool enabled() const { return timeout_.count() > 0; }
  void started(int slot, unsigned long ident, std::string label);
  void finished(int slot);
  // The monitor thread's body; returns after stop().
  void run();
  void stop();

 private:
  using Clock = std::chrono::steady_clock;
  struct Slot {
    bool busy = false;
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
