// How a worker tells the supervisor what it does: the scoreboard for live
// state, the notify pipe for the events the supervisor acts on ("ready"
// once it can serve, "retire" or "evict" when it wants to be replaced).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "wsgi_fpm/scoreboard.h"

namespace wsgi_fpm::worker {

class Reporter {
 public:
  // Maps the scoreboard and adopts the notify pipe if the supervisor passed
  // them; without them (a worker started by hand) reporting is a no-op.
  Reporter(int threads, int maximum_requests);
  ~Reporter();
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  void ready();
  void stopping();
  // Asks to be replaced (once): the supervisor starts a successor, then
  // stops this process gracefully.
  void retire(const std::string& reason);
  // Asks for a graceful restart that the operator wanted (SIGUSR1): as
  // retire(), but the supervisor gives requests eviction-timeout to finish.
  void evict(const std::string& reason);
  // A thread just held the GIL (for deadlock-timeout).
  void gil_taken();

  // Around each request on request thread `slot`.
  void request_started(int slot, std::string_view method, std::string_view uri);
  void request_finished(int slot);
  // Whether request thread `slot` is in a request (false without a scoreboard).
  bool busy(int slot) const;

 private:
  void notify(std::string_view line);
  Scoreboard* board_ = nullptr;
  int notify_fd_ = -1;
  int maximum_requests_;
  std::atomic<std::uint64_t> served_{0};
  std::atomic<bool> retiring_{false};
};

}  // namespace wsgi_fpm::worker
