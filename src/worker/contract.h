// The descriptors a worker is given (include/wsgi_fpm/descriptors.h), as this
// process keeps them.
//
// A worker runs tenant code, so it inherits nothing by accident: first thing,
// before Python exists, it closes every descriptor above 2 that is not the
// contract's (a file the supervisor's shell had open on fd 9 would otherwise
// be readable by the app). And it moves what it keeps, and every descriptor
// it holds for its whole life (epoll set, eventfd, signalfd), from the low
// numbers to kHighFdBase and up. Apps do touch low numbers: os.close(3) for
// "the inherited descriptor", a double close of a number since reused, code
// written for systemd's LISTEN_FDS_START=3. Where the supervisor puts the
// listening socket, such a close left the worker "ready" but broken (issue
// 13: requests timed out, a core spun, no replacement); at 1000 and up it
// hits nothing of ours. The contract's own numbers hold /dev/null: left free,
// the next accepted connection would take 3, and os.close(3) would cut a
// client off. Moving is the worker's business alone: the supervisor still
// hands over 3-7.
//
// What an app can still do (close every descriptor it finds, say) is caught
// where it bites: Dispatcher and Reporter check that their descriptors still
// are what they were (FdIdentity), and the worker retires or stops.
#pragma once

#include <sys/types.h>

#include <array>
#include <iterator>
#include <utility>

#include "wsgi_fpm/descriptors.h"

namespace wsgi_fpm::worker {

// Where a worker keeps its own descriptors: far from the numbers an app's
// open() hands out, and under 1024 so the descriptor table stays small (it
// grows to the highest number in use) and select() still works for an app's
// own descriptors. Lower when RLIMIT_NOFILE is.
inline constexpr int kHighFdBase = 1000;

class Contract {
 public:
  // Closes every descriptor above 2 except the contract's (kContractFds and
  // `listen_fd`), then moves those that are open to kHighFdBase and up,
  // close-on-exec, and puts /dev/null in their place. Call first thing,
  // before any thread and before Python.
  static Contract take(int listen_fd);

  // Where the descriptor the supervisor passed as `given` is now; -1 if it
  // was not passed (a worker started by hand).
  int fd(int given) const;
  // Puts `fd` (which it takes over) where `given` lives now, or high if it
  // has no place yet: a forked worker's own scoreboard and notify pipe
  // replace the template's.
  void replace(int given, int fd);
  // Closes the descriptor `given` lives in now.
  void close(int given);

 private:
  Contract() { where_.fill({-1, -1}); }
  static constexpr std::size_t kSlots = std::size(kContractFds) + 1;  // + a --listen-fd elsewhere
  std::array<std::pair<int, int>, kSlots> where_{};  // (given, now); given -1: unused
};

// Moves a descriptor the worker keeps for its whole life to kHighFdBase or
// above, close-on-exec, closing the original; returns the new number (the
// old one if it cannot be moved, e.g. RLIMIT_NOFILE is tiny).
int keep_high(int fd);

// What a descriptor refers to, so that code holding it can tell whether it
// was closed under it, or its number reused by someone else's open().
class FdIdentity {
 public:
  FdIdentity() = default;
  explicit FdIdentity(int fd);
  int fd() const { return fd_; }
  // Still open and still the same file (device and inode).
  bool intact() const;

 private:
  int fd_ = -1;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace wsgi_fpm::worker
