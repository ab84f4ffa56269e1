// The descriptors a worker is given (include/wsgi_fpm/scoreboard.h), and
// nothing else.
//
// A worker runs tenant code, so it inherits nothing by accident: first thing,
// before Python exists, it closes every descriptor above 2 that is not the
// contract's. A file the supervisor's shell had open on fd 9 (say
// `9</root-only-file`) was readable from a tenant's app (issue 13).
#pragma once

#include <array>
#include <iterator>
#include <utility>

#include "wsgi_fpm/scoreboard.h"

namespace wsgi_fpm::worker {

class Contract {
 public:
  // Closes every descriptor above 2 except the contract's (kContractFds and
  // `listen_fd`). Call first thing, before any thread and before Python.
  static Contract take(int listen_fd);

  // Where the descriptor the supervisor passed as `given` is now; -1 if it
  // was not passed (a worker started by hand).
  int fd(int given) const;

 private:
  Contract() { where_.fill({-1, -1}); }
  static constexpr std::size_t kSlots = std::size(kContractFds) + 1;  // + a --listen-fd elsewhere
  std::array<std::pair<int, int>, kSlots> where_{};  // (given, now); given -1: unused
};

}  // namespace wsgi_fpm::worker
