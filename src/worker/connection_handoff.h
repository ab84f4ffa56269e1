// Keep-alive connections handed between a pool's processes across a
// graceful replacement, through the supervisor (wsgi_fpm/descriptors.h,
// kHandoffFd): a stopping process sends the idle ones it would otherwise
// close, a ready one adopts them. The supervisor brokers, because workers
// do not know each other.
#pragma once

#include <cstddef>
#include <functional>

#include "util/fd.h"

namespace wsgi_fpm::worker {

// Uses `fd` (where the contract keeps kHandoffFd) if it is a socket: the
// supervisor gave this process one. False otherwise (a template, a worker
// started by hand).
bool use_handoff_socket(int fd);
// Sends `count` connections (at most kHandoffMaxFds) in one record, without
// blocking. False if they did not go (they are still ours).
bool hand_over_connections(const int* fds, std::size_t count);
// Takes every record waiting on the socket, each connection to `adopt`.
// False once the supervisor has closed its end.
bool receive_connections(const std::function<void(UniqueFd)>& adopt);

}  // namespace wsgi_fpm::worker
