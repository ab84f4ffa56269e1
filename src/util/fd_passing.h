// Descriptors sent over a SOCK_SEQPACKET socket (SCM_RIGHTS): a record of
// plain bytes with descriptors riding along, whole or not at all.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "util/fd.h"

namespace wsgi_fpm {

// Sends `data` with `count` descriptors in one record, without blocking.
// False with errno (EAGAIN: the peer's queue is full). The descriptors stay
// ours either way: on success the peer has its own copies.
bool send_fds(int socket, const void* data, std::size_t length, const int* fds, std::size_t count);

// Receives one record without blocking: its length (0 at EOF, -1 with
// errno), its descriptors appended to `fds` (close-on-exec). A record longer
// than `length`, or with more than `max_fds` descriptors, is cut short: the
// descriptors that did arrive are still returned, and errno is EMSGSIZE with
// a result of -1.
ssize_t receive_fds(int socket, void* data, std::size_t length, std::vector<UniqueFd>& fds, std::size_t max_fds);

}  // namespace wsgi_fpm
