#include "worker/reporter.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace wsgi_fpm::worker {
namespace {

bool fd_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

}  // namespace

Reporter::Reporter(int threads, int maximum_requests) : maximum_requests_(maximum_requests) {
  if (fd_open(kScoreboardFd)) {
    void* p = mmap(nullptr, sizeof(Scoreboard), PROT_READ | PROT_WRITE, MAP_SHARED, kScoreboardFd, 0);
    if (p != MAP_FAILED) {
      board_ = static_cast<Scoreboard*>(p);
      board_->thread_count = static_cast<std::uint32_t>(std::min<std::size_t>(threads, kScoreboardThreads));
      board_->started_us.store(wall_clock_us(), std::memory_order_relaxed);
      board_->magic = kScoreboardMagic;
    }
    close(kScoreboardFd);  // the mapping stays; the descriptor is not needed
  }
  if (fd_open(kNotifyFd)) {
    notify_fd_ = kNotifyFd;
    fcntl(notify_fd_, F_SETFD, FD_CLOEXEC);
  }
}

Reporter::~Reporter() {
  if (board_) munmap(board_, sizeof(Scoreboard));
}

void Reporter::notify(std::string_view line) {
  if (notify_fd_ < 0) return;
  std::string msg(line);
  msg.push_back('\n');
  // One write of a short line into a pipe is atomic.
  [[maybe_unused]] auto n = ::write(notify_fd_, msg.data(), msg.size());
}

void Reporter::ready() {
  if (board_) board_->state.store(static_cast<std::uint32_t>(WorkerState::Ready), std::memory_order_relaxed);
  notify("ready");
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
  if (notify_fd_ >= 0) {
    notify("evict " + reason);
  } else {
    kill(getpid(), SIGUSR2);  // no supervisor: drain with eviction-timeout and stop
  }
}

void Reporter::retire(const std::string& reason) {
  if (retiring_.exchange(true)) return;
  // The supervisor starts a successor and stops this process once the
  // successor is ready, so no request ever waits for a missing process.
  if (notify_fd_ >= 0) {
    notify("retire " + reason);
  } else {
    kill(getpid(), SIGTERM);  // no supervisor to replace us: stop gracefully
  }
}

}  // namespace wsgi_fpm::worker
