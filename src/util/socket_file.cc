#include "util/socket_file.h"

#include <fcntl.h>
#include <cstddef>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fmt/format.h"
#include "util/users.h"

namespace wsgi_fpm {
namespace {

std::string errno_text(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// "/run/x/a.sock" -> {"/run/x", "a.sock"}.
std::pair<std::string, std::string> split_path(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// A path that reaches exactly what `fd` refers to, however its directories
// are renamed or replaced meanwhile: the kernel resolves /proc/self/fd/N to
// the open file itself, never by name. bind() and chmod() take no
// descriptor, so this is how they are pointed at an inode.
std::string through_descriptor(int fd, const char* name = nullptr) {
  std::string p = "/proc/self/fd/" + std::to_string(fd);
  return name ? p + "/" + name : p;
}

bool same_inode(const struct stat& st, const SocketFile& file) {
  return S_ISSOCK(st.st_mode) && st.st_dev == file.device && st.st_ino == file.inode;
}

// True if a process accepts connections on the socket `fd` (O_PATH) names.
bool answered(int fd) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string p = through_descriptor(fd);
  std::memcpy(sa.sun_path, p.c_str(), p.size() + 1);
  int rc;
  do rc = ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  while (rc != 0 && errno == EINTR);
  return rc == 0;
}

// Proves that `inode` (an O_PATH descriptor of what the path names now) is
// the socket this process just bound at `path`: a connection made through
// the descriptor reaches a listener that this process made (SO_PEERCRED on
// the client side gives the listener's credentials) and that was bound at
// `path` (the kernel keeps the address given to bind()). Nothing is
// accepted: the probe waits in the backlog, and is closed, like any client
// that goes away.
bool is_bound_to(int inode, const std::string& path) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string p = through_descriptor(inode);
  std::memcpy(sa.sun_path, p.c_str(), p.size() + 1);
  if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return false;
  ucred listener{};
  socklen_t len = sizeof listener;
  if (getsockopt(probe.get(), SOL_SOCKET, SO_PEERCRED, &listener, &len) != 0 || listener.pid != getpid())
    return false;
  sockaddr_un bound{};
  len = sizeof bound;
  if (getpeername(probe.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) return false;
  std::size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
  return std::string(bound.sun_path, strnlen(bound.sun_path, n)) == path;
}

}  // namespace

SocketFile bind_socket_file(int socket, const std::string& path, const SocketOwnership& owner, int backlog,
                            std::string& error) {
  auto [dir, name] = split_path(path);
  if (name.empty()) {
    error = "bind " + path + ": the path names a directory";
    return {};
  }
  UniqueFd parent(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!parent) {
    error = errno_text("bind " + path + ": cannot open the directory", dir);
    return {};
  }
  {
    UniqueFd there(openat(parent.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    if (there && fstat(there.get(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        error = "bind " + path + ": a file that is not a socket is in the way";
        return {};
      }
      if (answered(there.get())) {
        error = "bind " + path + ": another process is listening on it";
        return {};
      }
      unlinkat(parent.get(), name.c_str(), 0);  // a stale socket
    }
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    error = "bind " + path + ": longer than a UNIX socket path may be (" + std::to_string(sizeof sa.sun_path - 1) +
            " bytes)";
    return {};
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  // Created under umask(~mode): never more open than configured, and exactly
  // that open (the file mode of a new socket is 0777 & ~umask).
  mode_t old_umask = umask(0777 & ~owner.mode);
  int rc = bind(socket, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int saved = errno;
  umask(old_umask);
  if (rc != 0) {
    errno = saved;
    error = errno_text("bind", path);
    return {};
  }
  if (listen(socket, backlog) != 0) {
    error = errno_text("listen", path);
    return {};
  }
  // From here on the path is never followed: what it names is opened once,
  // without following a symlink, proven to be the socket just bound, and
  // changed through that descriptor alone.
  UniqueFd inode(openat(parent.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!inode || fstat(inode.get(), &st) != 0 || !S_ISSOCK(st.st_mode) || !is_bound_to(inode.get(), path)) {
    error = "bind " + path + ": something else was put in the socket's place before its owner and mode were set";
    return {};
  }
  if (fchownat(inode.get(), "", owner.uid, owner.gid, AT_EMPTY_PATH) != 0) {
    error = errno_text("chown", path);
    unlinkat(parent.get(), name.c_str(), 0);
    return {};
  }
  if (chmod(through_descriptor(inode.get()).c_str(), owner.mode) != 0) {
    error = errno_text("chmod", path);
    unlinkat(parent.get(), name.c_str(), 0);
    return {};
  }
  return SocketFile{path, st.st_dev, st.st_ino};
}

bool socket_file_in_place(const SocketFile& file) {
  struct stat st;
  return file && lstat(file.path.c_str(), &st) == 0 && same_inode(st, file);
}

void remove_socket_file(const SocketFile& file) {
  if (!file) return;
  auto [dir, name] = split_path(file.path);
  UniqueFd parent(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat st;
  if (parent && fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && same_inode(st, file))
    unlinkat(parent.get(), name.c_str(), 0);
}

bool change_socket_ownership(const SocketFile& file, const SocketOwnership& owner, std::string& error) {
  UniqueFd inode(open(file.path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!inode || fstat(inode.get(), &st) != 0 || !same_inode(st, file)) {
    error = file.path + " is no longer the socket this pool bound";
    return false;
  }
  if (fchownat(inode.get(), "", owner.uid, owner.gid, AT_EMPTY_PATH) != 0) {
    error = errno_text("chown", file.path);
    return false;
  }
  if (chmod(through_descriptor(inode.get()).c_str(), owner.mode) != 0) {
    error = errno_text("chmod", file.path);
    return false;
  }
  return true;
}

std::vector<std::string> unsafe_socket_directory(const std::string& dir) {
  std::vector<std::string> findings;
  std::string at = dir;
  bool own_directory = true;
  while (!at.empty()) {
    struct stat st;
    if (stat(at.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      if (st.st_uid != 0) {
        auto user = find_user(st.st_uid);
        findings.push_back(fmt::format("{} is owned by {}", at, user ? user->name : "uid " + std::to_string(st.st_uid)));
      }
      // Above the socket's own directory a sticky bit keeps others from
      // renaming root's entries; in it, they may still take a name first.
      bool sticky_protects = !own_directory && (st.st_mode & S_ISVTX);
      if ((st.st_mode & 0022) && !sticky_protects)
        findings.push_back(fmt::format("{} is writable by {} (mode {:04o})", at,
                                       (st.st_mode & 0002) ? "everyone" : "its group " + std::to_string(st.st_gid),
                                       st.st_mode & 07777));
    }
    if (at == "/" || at == ".") break;
    at = split_path(at).first;
    own_directory = false;
  }
  return findings;
}

}  // namespace wsgi_fpm
