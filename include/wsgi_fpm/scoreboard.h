// The scoreboard: a small shared memory region per worker process through
// which the worker reports what it is doing and the supervisor reads it for
// `wsgi-fpm status` (as Apache's and PHP-FPM's scoreboards do). The worker
// only ever writes its own region; the supervisor only reads. Values are
// relaxed atomics: a status snapshot may be a moment stale, never torn into
// a crash. This header is the whole contract between the two executables.
#pragma once

#include <time.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace wsgi_fpm {

inline constexpr std::uint32_t kScoreboardMagic = 0x57534732;  // "WSG2"
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
  // CLOCK_MONOTONIC µs of the last time a thread of the worker took the GIL
  // (once a second; 0 before the first time): the supervisor's
  // deadlock-timeout compares it with its own clock, as mod_wsgi's monitor
  // thread does with its own.
  std::atomic<std::uint64_t> gil_heartbeat_us;
  ThreadSlot threads[kScoreboardThreads];
};

enum class WorkerState : std::uint32_t { Starting = 0, Ready = 1, Stopping = 2 };

// The two clocks of the scoreboard's fields, read the same way on both sides.
inline std::uint64_t clock_us(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}
inline std::uint64_t wall_clock_us() { return clock_us(CLOCK_REALTIME); }
inline std::uint64_t monotonic_us() { return clock_us(CLOCK_MONOTONIC); }

// The worker's file descriptors, set up by the supervisor when it spawns one.
inline constexpr int kListenFd = 3;
inline constexpr int kScoreboardFd = 4;
// The worker writes single-line messages here: "ready"; "retire REASON" (it
// wants a successor: maximum-requests, request-timeout); "evict REASON" (it
// was asked to restart gracefully, e.g. by SIGUSR1 as mod_wsgi's daemon
// processes are, so its requests get eviction-timeout to finish).
inline constexpr int kNotifyFd = 5;
// preload-fork: a pool's template process (src/worker/fork_template.h) takes
// fork requests on this SOCK_SEQPACKET socket.
inline constexpr int kForkCommandFd = 6;
// One fork request, sent with SCM_RIGHTS carrying the new worker's stdout,
// stderr, scoreboard, notify and handoff descriptors, in that order; and the
// reply: the worker's pid, or -errno if it could not be made.
struct ForkRequest {
  std::uint64_t id;
  std::uint64_t flags;
};
// To the zygote: the new process is a pool's template, and the fifth
// descriptor is its own fork-request socket (kForkCommandFd), not a handoff
// socket.
inline constexpr std::uint64_t kForkTemplate = 1;
struct ForkReply {
  std::uint64_t id;
  std::int64_t pid;
};
inline constexpr int kForkRequestFds = 5;
// The shared zygote (`--zygote`, supervisor/zygote.h) takes the same
// requests with the new worker's listening socket as a sixth descriptor, and
// after the ForkRequest the worker's command line and environment
// (fork_request.h). It forks preload-fork templates too (kForkTemplate).
inline constexpr int kZygoteRequestFds = 6;

// Idle keep-alive connections handed over across a graceful replacement: a
// SOCK_SEQPACKET socket to the supervisor, given to every worker (not to a
// template). A stopping worker sends the keep-alive connections it would
// otherwise have to close (those with no request waiting: closed, the
// frontend could be writing one to them right then) in records of a
// HandoffRecord and up to kHandoffMaxFds descriptors (SCM_RIGHTS); the
// supervisor passes each record on to a ready worker of the same pool, which
// adopts them as idle keep-alive connections of its own. A request already
// on its way stays in the socket and is read by the adopter.
inline constexpr int kHandoffFd = 7;
struct HandoffRecord {
  std::uint32_t connections;  // descriptors that come with it
};
inline constexpr int kHandoffMaxFds = 64;

// Every descriptor above 2 that a worker may be given: it closes all others
// before Python starts (src/worker/contract.h), so a new descriptor of the
// contract is one more entry here. The numbers are the supervisor's side
// only; the worker moves what it keeps out of the low numbers apps touch.
inline constexpr int kContractFds[] = {kListenFd, kScoreboardFd, kNotifyFd, kForkCommandFd, kHandoffFd};

}  // namespace wsgi_fpm
