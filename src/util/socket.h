// Listening and connected sockets with the ownership rules of SPEC §6.
#pragma once

#include <sys/types.h>

#include <string>

#include "util/address.h"
#include "util/fd.h"
#include "util/socket_file.h"

namespace wsgi_fpm {

struct ListeningSocket {
  UniqueFd fd;
  SocketFile file;  // a UNIX socket's inode; empty for TCP
};

// Binds and listens. A UNIX socket gets exactly `owner` without its path ever
// being followed (util/socket_file.h); a stale socket file at the path is
// replaced only if nothing answers on it. Returns an invalid fd and sets
// `error` ("bind /run/x.sock: Permission denied").
ListeningSocket listen_on(const Address& addr, const SocketOwnership& owner, int backlog,
                          std::string& error);

// A blocking connected socket; invalid with `error` set on failure.
UniqueFd connect_to(const Address& addr, std::string& error);

void set_nonblocking(int fd, bool on);
void set_cloexec(int fd, bool on);

}  // namespace wsgi_fpm
