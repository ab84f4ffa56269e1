// Listening and connected sockets with the ownership rules of SPEC §6.
#pragma once

#include <sys/types.h>

#include <string>

#include "util/address.h"
#include "util/fd.h"

namespace wsgi_fpm {

struct SocketOwnership {
  uid_t uid = static_cast<uid_t>(-1);  // -1: leave as created
  gid_t gid = static_cast<gid_t>(-1);
  mode_t mode = 0660;
};

// Binds and listens. A UNIX socket is created under umask(0777 & ~mode), so it
// is never more open than configured even for an instant, then chowned; a
// stale socket file at the path is replaced only if nothing answers on it.
// Returns an invalid fd and sets `error` ("bind /run/x.sock: Permission denied").
UniqueFd listen_on(const Address& addr, const SocketOwnership& owner, int backlog,
                   std::string& error);

// A blocking connected socket; invalid with `error` set on failure.
UniqueFd connect_to(const Address& addr, std::string& error);

void set_nonblocking(int fd, bool on);
void set_cloexec(int fd, bool on);

}  // namespace wsgi_fpm
