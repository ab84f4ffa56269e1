// How a worker tells the supervisor what it does: the scoreboard for live
// state, the notify pipe for the events the supervisor acts on ("ready"
// once it can serve, "retire" or "evict" when it wants to be replaced).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "worker/contract.h"
#include "wsgi_fpm/notify.h"
#include "wsgi_fpm/scoreboard.h"

namespace wsgi_fpm::worker {

class Reporter {
 public:
  // Maps the scoreboard (and closes its descriptor) and adopts the notify
  // pipe, given as where this process keeps them (contract.h), -1 if the
  // supervisor did not pass them: without them (a worker started by hand)
  // the scoreboard is this process's own memory (the request-timeout
  // monitor reads it too), and retire/evict stop the process by themselves.
  Reporter(int threads, int maximum_requests, int scoreboard_fd, int notify_fd);
  ~Reporter();
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  void ready();
  // Asks to be replaced (once): the supervisor starts a successor, then
  // stops this process gracefully.
  void retire(const std::string& reason);
  // Asks for a graceful restart that the operator wanted (SIGUSR1): as
  // retire(), but the supervisor gives requests eviction-timeout to finish.
  void evict(const std::string& reason);
  // Whether the notify pipe is still the one the supervisor gave us. Once it
  // is not (the application closed it), nothing we say reaches the
  // supervisor: the process stops by itself (SIGTERM to itself, as a worker
  // without a supervisor does) and the supervisor starts another in its slot.
  bool check_link();
  // A thread just held the GIL (for deadlock-timeout).
  void gil_taken();

  // Around each request on request thread `slot`.
  void request_started(int slot, std::string_view method, std::string_view uri) {
    board_->request_started(static_cast<std::size_t>(slot), method, uri);
  }
  void request_finished(int slot) {
    std::uint64_t served = served_.fetch_add(1, std::memory_order_relaxed) + 1;
    board_->request_finished(static_cast<std::size_t>(slot), served);
    if (maximum_requests_ > 0 && served >= static_cast<std::uint64_t>(maximum_requests_)) retire("maximum-requests");
  }
  // Whether request thread `slot` is in a request.
  bool busy(int slot) const { return board_->threads[slot].busy(); }
  // What the request threads are doing (the request-timeout monitor reads it).
  const Scoreboard& scoreboard() const { return *board_.get(); }

 private:
  // False if the line cannot reach the supervisor (none, or the link lost).
  bool notify(const NotifyMessage& message);
  void lose_link(const std::string& why);
  ScoreboardMapping board_;
  FdIdentity notify_;  // fd -1: no supervisor to tell
  int maximum_requests_;
  std::atomic<std::uint64_t> served_{0};
  std::atomic<bool> retiring_{false};
  std::atomic<bool> link_lost_{false};
};

}  // namespace wsgi_fpm::worker
