// The scoreboard: a small shared memory region per worker process through
// which the worker reports what it is doing and the supervisor reads it for
// `wsgi-fpm status` (as Apache's and PHP-FPM's scoreboards do). The worker
// only ever writes its own region; the supervisor only reads. Values are
// relaxed atomics: a status snapshot may be a moment stale, never torn into
// a crash. This header is the whole contract between the two executables.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace wsgi_fpm {

inline constexpr std::uint32_t kScoreboardMagic = 0x57534731;  // "WSG1"
inline constexpr std::size_t kScoreboardThreads = 256;          // threads above this are not shown
inline constexpr std::size_t kScoreboardUrlBytes = 240;

struct ThreadSlot {
  std::atomic<std::uint64_t> request_start_us;  // 0: idle; else wall-clock µs of the request's start
  std::atomic<std::uint32_t> generation;        // bumped around url writes (seqlock)
  std::uint32_t url_length;
  char url[kScoreboardUrlBytes];                // "GET /path?query"
};

struct Scoreboard {
  std::uint32_t magic;
  std::uint32_t thread_count;
  std::atomic<std::uint64_t> requests_served;
  std::atomic<std::uint32_t> busy_threads;
  std::atomic<std::uint32_t> state;  // WorkerState
  std::atomic<std::uint64_t> started_us;
  ThreadSlot threads[kScoreboardThreads];
};

enum class WorkerState : std::uint32_t { Starting = 0, Ready = 1, Stopping = 2 };

// The worker's file descriptors, set up by the supervisor when it spawns one.
inline constexpr int kListenFd = 3;
inline constexpr int kScoreboardFd = 4;
// The worker writes single-line messages here: "ready", "retire REASON".
inline constexpr int kNotifyFd = 5;

}  // namespace wsgi_fpm
