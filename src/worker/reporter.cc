#include "worker/reporter.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "util/log.h"
#include "wsgi_fpm/worker_exit.h"

namespace wsgi_fpm::worker {

Reporter::Reporter(int threads, int maximum_requests, int scoreboard_fd, int notify_fd)
    : board_(scoreboard_fd), maximum_requests_(maximum_requests) {
  if (scoreboard_fd >= 0) close(scoreboard_fd);  // the mapping stays; the descriptor is not needed
  // The supervisor's memfd could not be mapped (or none was given and no
  // memory is left): our own, so that every request has its slot.
  if (!board_) board_ = ScoreboardMapping(-1);
  if (!board_) {
    log::error("cannot map the scoreboard: {}", std::strerror(errno));
    std::_Exit(worker_exit::kCannotSetUp);
  }
  // Threads are at most kScoreboardThreads (config's limit).
  board_->thread_count = static_cast<std::uint32_t>(std::min<std::size_t>(threads, kScoreboardThreads));
  board_->magic = kScoreboardMagic;
  if (notify_fd >= 0) {
    fcntl(notify_fd, F_SETFD, FD_CLOEXEC);
    notify_ = FdIdentity(notify_fd);
  }
}

Reporter::~Reporter() = default;

bool Reporter::notify(const NotifyMessage& message) {
  if (notify_.fd() < 0 || link_lost_.load()) return false;
  // Checked first: a number the application closed and then reused for a
  // file of its own must not get our line.
  if (!notify_.intact()) {
    lose_link("closed, or its number now names another file");
    return false;
  }
  std::string msg = message.encode();
  // One write of a short line into a pipe is atomic.
  if (::write(notify_.fd(), msg.data(), msg.size()) < 0 && errno != EAGAIN && errno != EINTR) {
    lose_link(std::string("write: ") + std::strerror(errno));  // EPIPE: the supervisor is gone
    return false;
  }
  return true;
}

void Reporter::lose_link(const std::string& why) {
  if (link_lost_.exchange(true)) return;
  log::error("lost its notify pipe to the supervisor (descriptor {}: {}): did the application close it? "
             "Stopping, so that the supervisor starts another process",
             notify_.fd(), why);
}

bool Reporter::check_link() {
  if (notify_.fd() < 0) return true;  // never had one
  if (!link_lost_.load() && notify_.intact()) return true;
  bool first = !link_lost_.load();
  lose_link("closed, or its number now names another file");
  if (first) kill(getpid(), SIGTERM);
  return false;
}

void Reporter::ready() {
  if (!notify({NotifyMessage::Kind::Ready, {}}) && link_lost_.load()) kill(getpid(), SIGTERM);  // the supervisor would never know
}

void Reporter::gil_taken() {
  board_->gil_heartbeat_us.store(monotonic_us(), std::memory_order_relaxed);
}

void Reporter::evict(const std::string& reason) {
  if (retiring_.exchange(true)) return;
  // No supervisor to tell (or none we can reach): drain with
  // eviction-timeout and stop; a supervisor then starts another.
  if (!notify({NotifyMessage::Kind::Evict, reason})) kill(getpid(), SIGUSR2);
}

void Reporter::retire(const std::string& reason) {
  if (retiring_.exchange(true)) return;
  // The supervisor starts a successor and stops this process once the
  // successor is ready, so no request ever waits for a missing process.
  // Without one to tell: stop gracefully.
  if (!notify({NotifyMessage::Kind::Retire, reason})) kill(getpid(), SIGTERM);
}

}  // namespace wsgi_fpm::worker
