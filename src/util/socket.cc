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

// True if a process already accepts connections on the UNIX socket at `path`.
bool unix_socket_in_use(const Address& addr) {
  std::string ignored;
  return static_cast<bool>(connect_to(addr, ignored));
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

UniqueFd listen_on(const Address& addr, const SocketOwnership& owner, int backlog,
                   std::string& error) {
  sockaddr_storage sa;
  socklen_t len = 0;
  if (!to_sockaddr(addr, sa, len, error)) return {};
  UniqueFd fd(::socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = errno_text("socket", addr);
    return {};
  }
  if (addr.kind == Address::Kind::Tcp) {
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Frontends speak first (the FastCGI or SCGI request), so the kernel may
    // hold a new connection back until its first bytes are in: the worker
    // thread woken for it reads at once instead of accepting an empty
    // connection and sleeping again until the request comes.
    int defer_seconds = 10;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof defer_seconds);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0) {
      error = errno_text("bind", addr);
      return {};
    }
  } else {
    struct stat st;
    if (lstat(addr.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        error = "bind " + addr.path + ": a file that is not a socket is in the way";
        return {};
      }
      if (unix_socket_in_use(addr)) {
        error = "bind " + addr.path + ": another process is listening on it";
        return {};
      }
      unlink(addr.path.c_str());
    }
    mode_t old_umask = umask(0777 & ~owner.mode);
    int rc = bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len);
    int saved = errno;
    umask(old_umask);
    if (rc != 0) {
      errno = saved;
      error = errno_text("bind", addr);
      return {};
    }
    if ((owner.uid != static_cast<uid_t>(-1) || owner.gid != static_cast<gid_t>(-1)) &&
        chown(addr.path.c_str(), owner.uid, owner.gid) != 0) {
      error = errno_text("chown", addr);
      unlink(addr.path.c_str());
      return {};
    }
    // bind() honours the umask; chmod makes the mode exact (e.g. setgid bits off).
    if (chmod(addr.path.c_str(), owner.mode) != 0) {
      error = errno_text("chmod", addr);
      unlink(addr.path.c_str());
      return {};
    }
  }
  if (listen(fd.get(), backlog) != 0) {
    error = errno_text("listen", addr);
    return {};
  }
  return fd;
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
