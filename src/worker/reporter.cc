#include "worker/reporter.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "util/log.h"

namespace wsgi_fpm::worker {

Reporter::Reporter(int threads, int maximum_requests, int scoreboard_fd, int notify_fd)
    : maximum_requests_(maximum_requests) {
  if (scoreboard_fd >= 0) {
    void* p = mmap(nullptr, sizeof(Scoreboard), PROT_READ | PROT_WRITE, MAP_SHARED, scoreboard_fd, 0);
    if (p != MAP_FAILED) {
      board_ = static_cast<Scoreboard*>(p);
      board_->thread_count = static_cast<std::uint32_t>(std::min<std::size_t>(threads, kScoreboardThreads));
      board_->started_us.store(wall_clock_us(), std::memory_order_relaxed);
      board_->magic = kScoreboardMagic;
    }
    close(scoreboard_fd);  // the mapping stays; the descriptor is not needed
  }
  if (notify_fd >= 0) {
    fcntl(notify_fd, F_SETFD, FD_CLOEXEC);
    notify_ = FdIdentity(notify_fd);
  }
}

Reporter::~Reporter() {
  if (board_) munmap(board_, sizeof(Scoreboard));
}

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
  if (board_) board_->state.store(static_cast<std::uint32_t>(WorkerState::Ready), std::memory_order_relaxed);
  if (!notify({NotifyMessage::Kind::Ready, {}}) && link_lost_.load()) kill(getpid(), SIGTERM);  // the supervisor would never know
}

void Reporter::stopping() {
  if (board_) board_->state.store(static_cast<std::uint32_t>(WorkerState::Stopping), std::memory_order_relaxed);
}

void Reporter::request_started(int slot, std::string_view method, std::string_view uri) {
  if (!board_ || slot < 0 || static_cast<std::size_t>(slot) >= kScoreboardThreads) return;
  ThreadSlot& s = board_->threads[slot];
  s.generation.fetch_add(1, std::memory_order_acq_rel);  // odd: being written
  std::size_t n = 0;
  auto put = [&](std::string_view part) {
    std::size_t take = std::min(part.size(), kScoreboardUrlBytes - n);
    std::memcpy(s.url + n, part.data(), take);
    n += take;
  };
  put(method);
  put(" ");
  put(uri);
  s.url_length = static_cast<std::uint32_t>(n);
  s.request_start_us.store(wall_clock_us(), std::memory_order_relaxed);
  s.generation.fetch_add(1, std::memory_order_release);
  board_->busy_threads.fetch_add(1, std::memory_order_relaxed);
}

void Reporter::request_finished(int slot) {
  std::uint64_t served = served_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (board_ && slot >= 0 && static_cast<std::size_t>(slot) < kScoreboardThreads) {
    board_->threads[slot].request_start_us.store(0, std::memory_order_relaxed);
    board_->busy_threads.fetch_sub(1, std::memory_order_relaxed);
    board_->requests_served.store(served, std::memory_order_relaxed);
  }
  if (maximum_requests_ > 0 && served >= static_cast<std::uint64_t>(maximum_requests_)) retire("maximum-requests");
}

bool Reporter::busy(int slot) const {
  if (!board_ || slot < 0 || static_cast<std::size_t>(slot) >= kScoreboardThreads) return false;
  return board_->threads[slot].request_start_us.load(std::memory_order_relaxed) != 0;
}

void Reporter::gil_taken() {
  if (board_) board_->gil_heartbeat_us.store(monotonic_us(), std::memory_order_relaxed);
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
