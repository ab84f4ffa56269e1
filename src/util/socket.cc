#include "util/socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wsgi_fpm {
namespace {

std::string errno_text(const char* what, const Address& addr) {
  return std::string(what) + " " + (addr.kind == Address::Kind::Unix ? addr.path : addr.str()) +
         ": " + std::strerror(errno);
}

}  // namespace

void set_nonblocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

void set_cloexec(int fd, bool on) {
  int flags = fcntl(fd, F_GETFD);
  fcntl(fd, F_SETFD, on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC));
}

ListeningSocket listen_on(const Address& addr, const SocketOwnership& owner, int backlog,
                          std::string& error) {
  sockaddr_storage sa;
  socklen_t len = 0;
  if (!to_sockaddr(addr, sa, len, error)) return {};
  ListeningSocket out;
  out.fd = UniqueFd(::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!out.fd) {
    error = errno_text("socket", addr);
    return {};
  }
  if (addr.kind == Address::Kind::Tcp) {
    int one = 1;
    setsockopt(out.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Frontends speak first (the FastCGI or SCGI request), so the kernel may
    // hold a new connection back until its first bytes are in: the worker
    // thread woken for it reads at once instead of accepting an empty
    // connection and sleeping again until the request comes.
    int defer_seconds = 10;
    setsockopt(out.fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof defer_seconds);
    if (bind(out.fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
      error = errno_text("bind", addr);
      return {};
    }
  } else {
    out.file = bind_socket_file(out.fd.get(), addr.path, owner, backlog, error);
    if (!out.file) return {};
    return out;
  }
  if (listen(out.fd.get(), backlog) != 0) {
    error = errno_text("listen", addr);
    return {};
  }
  return out;
}

UniqueFd connect_to(const Address& addr, std::string& error) {
  sockaddr_storage sa;
  socklen_t len = 0;
  if (!to_sockaddr(addr, sa, len, error)) return {};
  UniqueFd fd(::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = errno_text("socket", addr);
    return {};
  }
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    error = errno_text("connect", addr);
    return {};
  }
  if (addr.kind == Address::Kind::Tcp) {
    int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

}  // namespace wsgi_fpm
