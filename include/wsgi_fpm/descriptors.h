// The descriptors a worker is given, by number, and what travels on them.
// Part of the contract between the supervisor and the worker (with
// scoreboard.h, notify.h, fork_request.h, worker_settings.h and
// worker_exit.h): both executables are built from these headers alone.
#pragma once

#include <cstdint>

namespace wsgi_fpm {

// The listening socket (FastCGI or SCGI).
inline constexpr int kListenFd = 3;
// The scoreboard's memfd (scoreboard.h).
inline constexpr int kScoreboardFd = 4;
// The notify pipe: single-line NotifyMessages (notify.h).
inline constexpr int kNotifyFd = 5;
// preload-fork: a pool's template process (src/worker/fork_template.h) takes
// fork requests (fork_request.h) on this SOCK_SEQPACKET socket.
inline constexpr int kForkCommandFd = 6;

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
