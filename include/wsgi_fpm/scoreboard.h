// The scoreboard: a small shared memory region per worker process through
// which the worker reports what it is doing, as Apache's and PHP-FPM's
// scoreboards do. The supervisor reads it for `wsgi-fpm status` and for the
// process manager (busy threads, requests served, the GIL heartbeat); the
// worker's request-timeout monitor reads the same slots, so a request's
// start and label are recorded once.
//
// The worker only ever writes its own region, each request thread only its
// own slot; everyone else reads. A slot is a seqlock over atomic words (the
// label is stored 8 bytes at a time), so a reader in another thread or
// process sees either a whole request or retries; nothing can be torn into
// a crash, and ThreadSanitizer sees no race. Writer and reader are both
// here, so the layout has one owner.
#pragma once

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace wsgi_fpm {

// The two clocks of the scoreboard's fields, read the same way on both sides.
inline std::uint64_t clock_us(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}
inline std::uint64_t wall_clock_us() { return clock_us(CLOCK_REALTIME); }
inline std::uint64_t monotonic_us() { return clock_us(CLOCK_MONOTONIC); }

inline constexpr std::uint32_t kScoreboardMagic = 0x57534733;  // "WSG3"
// One slot per request thread: the most threads a pool may have.
inline constexpr std::size_t kScoreboardThreads = 1024;

// One request thread's request in progress.
class ThreadSlot {
 public:
  static constexpr std::size_t kLabelBytes = 240;  // "METHOD URI", cut here

  // What a reader sees of a busy slot.
  struct Request {
    std::uint64_t start_us = 0;  // CLOCK_MONOTONIC µs
    std::uint32_t serial = 0;    // differs between two requests of the slot
    std::string label;
  };

  // The writer: the slot's own thread, around each request.
  void begin(std::string_view method, std::string_view uri, std::uint64_t start_us) {
    std::uint32_t g = generation_.load(std::memory_order_relaxed);
    generation_.store(g + 1, std::memory_order_relaxed);  // odd: being written
    std::atomic_thread_fence(std::memory_order_release);
    char text[kLabelBytes];
    std::size_t n = std::min(method.size(), kLabelBytes);
    std::memcpy(text, method.data(), n);
    if (n < kLabelBytes) text[n++] = ' ';
    std::size_t take = std::min(uri.size(), kLabelBytes - n);
    std::memcpy(text + n, uri.data(), take);
    n += take;
    for (std::size_t word = 0; word * 8 < n; ++word) {
      std::uint64_t value = 0;
      std::memcpy(&value, text + word * 8, std::min<std::size_t>(8, n - word * 8));
      label_[word].store(value, std::memory_order_relaxed);
    }
    label_length_.store(static_cast<std::uint32_t>(n), std::memory_order_relaxed);
    start_us_.store(start_us, std::memory_order_relaxed);
    generation_.store(g + 2, std::memory_order_release);
  }
  void end() { start_us_.store(0, std::memory_order_relaxed); }

  // Any reader: whether a request runs (one load, for the busy checks).
  bool busy() const { return start_us_.load(std::memory_order_relaxed) != 0; }
  // The request in progress; false if the slot is idle, or was rewritten
  // under each of a few tries (a thread serving tiny requests back to back).
  bool read(Request& out) const {
    for (int attempt = 0; attempt < 4; ++attempt) {
      std::uint32_t before = generation_.load(std::memory_order_acquire);
      if (before & 1) continue;
      std::uint64_t start = start_us_.load(std::memory_order_relaxed);
      if (start == 0) return false;
      std::size_t n = std::min<std::size_t>(label_length_.load(std::memory_order_relaxed), kLabelBytes);
      char text[kLabelBytes];
      for (std::size_t word = 0; word * 8 < n; ++word) {
        std::uint64_t value = label_[word].load(std::memory_order_relaxed);
        std::memcpy(text + word * 8, &value, std::min<std::size_t>(8, n - word * 8));
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      if (generation_.load(std::memory_order_relaxed) != before) continue;
      out.start_us = start;
      out.serial = before;
      out.label.assign(text, n);
      return true;
    }
    return false;
  }

 private:
  std::atomic<std::uint32_t> generation_{0};  // even: stable; +2 per request
  std::atomic<std::uint32_t> label_length_{0};
  std::atomic<std::uint64_t> start_us_{0};  // 0: idle
  std::atomic<std::uint64_t> label_[kLabelBytes / 8]{};
};

struct Scoreboard {
  std::uint32_t magic;
  std::uint32_t thread_count;
  std::atomic<std::uint64_t> requests_served;
  std::atomic<std::uint32_t> busy_threads;
  // CLOCK_MONOTONIC µs of the last time a thread of the worker took the GIL
  // (once a second; 0 before the first time): the supervisor's
  // deadlock-timeout compares it with its own clock, as mod_wsgi's monitor
  // thread does with its own.
  std::atomic<std::uint64_t> gil_heartbeat_us;
  ThreadSlot threads[kScoreboardThreads];

  // The worker, around each request on thread `slot` (< thread_count).
  void request_started(std::size_t slot, std::string_view method, std::string_view uri) {
    threads[slot].begin(method, uri, monotonic_us());
    // Sequentially consistent: the request-timeout monitor reads it against
    // its own flag to sleep without missing a request (request_monitor.cc).
    busy_threads.fetch_add(1, std::memory_order_seq_cst);
  }
  void request_finished(std::size_t slot, std::uint64_t served) {
    threads[slot].end();
    busy_threads.fetch_sub(1, std::memory_order_relaxed);
    requests_served.store(served, std::memory_order_relaxed);
  }
};

// A scoreboard mapped into this process: the memfd's (`fd`, shared with the
// other side; the mapping outlives the descriptor), or with fd -1 memory of
// this process's own, so that a worker started by hand has one too. Empty
// (get() null) if mmap failed.
class ScoreboardMapping {
 public:
  ScoreboardMapping() = default;
  explicit ScoreboardMapping(int fd) {
    void* p = fd >= 0 ? mmap(nullptr, sizeof(Scoreboard), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                      : mmap(nullptr, sizeof(Scoreboard), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) board_ = static_cast<Scoreboard*>(p);  // zero-filled: every field's initial value
  }
  ~ScoreboardMapping() {
    if (board_) munmap(board_, sizeof(Scoreboard));
  }
  ScoreboardMapping(ScoreboardMapping&& other) noexcept : board_(other.board_) { other.board_ = nullptr; }
  ScoreboardMapping& operator=(ScoreboardMapping&& other) noexcept {
    std::swap(board_, other.board_);
    return *this;
  }
  Scoreboard* get() const { return board_; }
  Scoreboard* operator->() const { return board_; }
  explicit operator bool() const { return board_ != nullptr; }

 private:
  Scoreboard* board_ = nullptr;
};

}  // namespace wsgi_fpm
