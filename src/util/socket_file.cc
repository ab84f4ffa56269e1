#include "util/socket_file.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/sysmacros.h>

#include <cstdint>
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

}  // namespace

std::string directory_of(const std::string& path) { return split_path(path).first; }

namespace {

// A path that reaches exactly what `fd` refers to, however its directories
// are renamed or replaced meanwhile: the kernel resolves /proc/self/fd/N to
// the open file itself, never by name. bind() and chmod() take no
// descriptor, so this is how they are pointed at an inode.
std::string through_descriptor(int fd, const char* name = nullptr) {
  std::string p = "/proc/self/fd/" + std::to_string(fd);
  return name ? p + "/" + name : p;
}

// Owner and mode of what `inode` (an O_PATH descriptor) is, never of what a
// path names by then: fchmod takes no O_PATH descriptor, chmod through
// /proc/self/fd reaches the very file.
bool set_owner_and_mode(int inode, const SocketOwnership& owner, const std::string& path, std::string& error) {
  if (fchownat(inode, "", owner.uid, owner.gid, AT_EMPTY_PATH) != 0) {
    error = errno_text("chown", path);
    return false;
  }
  if (chmod(through_descriptor(inode).c_str(), owner.mode) != 0) {
    error = errno_text("chmod", path);
    return false;
  }
  return true;
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

// The file a bound UNIX socket made, as the kernel's socket diagnostics
// (what `ss -x` reads) tell it: no connection is made, so nothing waits in
// the backlog for an ondemand pool to take for demand. False if they cannot
// be asked (a kernel without unix_diag).
bool bound_file_of(int socket, ino_t& inode, std::uint32_t& kernel_dev) {
  struct stat st;
  if (fstat(socket, &st) != 0) return false;
  UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) return false;
  struct {
    nlmsghdr header;
    unix_diag_req request;
  } ask{};
  ask.header.nlmsg_len = sizeof ask;
  ask.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  ask.header.nlmsg_flags = NLM_F_REQUEST;
  ask.request.sdiag_family = AF_UNIX;
  ask.request.udiag_states = ~0u;
  ask.request.udiag_ino = static_cast<std::uint32_t>(st.st_ino);  // the socket's own (sockfs) inode
  ask.request.udiag_show = UDIAG_SHOW_VFS;
  ask.request.udiag_cookie[0] = ask.request.udiag_cookie[1] = ~0u;  // INET_DIAG_NOCOOKIE
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(nl.get(), &ask, sizeof ask, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) return false;
  alignas(nlmsghdr) char reply[8192];
  ssize_t n = recv(nl.get(), reply, sizeof reply, 0);
  if (n <= 0) return false;
  auto* h = reinterpret_cast<nlmsghdr*>(reply);
  if (!NLMSG_OK(h, static_cast<std::uint32_t>(n)) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return false;
  auto* msg = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
  int left = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
  for (auto* a = reinterpret_cast<rtattr*>(msg + 1); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    if (a->rta_type != UNIX_DIAG_VFS || RTA_PAYLOAD(a) < sizeof(unix_diag_vfs)) continue;
    unix_diag_vfs vfs;
    std::memcpy(&vfs, RTA_DATA(a), sizeof vfs);
    inode = vfs.udiag_vfs_ino;
    kernel_dev = vfs.udiag_vfs_dev;
    return true;
  }
  return false;
}

// True if `st` is the file the kernel reported (its own dev_t encoding:
// major << 20 | minor, where stat gives userspace's).
bool same_file(const struct stat& st, ino_t inode, std::uint32_t kernel_dev) {
  std::uint32_t ours = (static_cast<std::uint32_t>(major(st.st_dev)) << 20) | static_cast<std::uint32_t>(minor(st.st_dev));
  return S_ISSOCK(st.st_mode) && st.st_ino == inode && ours == kernel_dev;
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
  // From here on the path is never followed: what it names is opened once,
  // without following a symlink, proven to be the socket just bound, and
  // changed through that descriptor alone. The socket listens only then.
  ino_t bound_inode = 0;
  std::uint32_t bound_dev = 0;
  if (!bound_file_of(socket, bound_inode, bound_dev)) {
    error = "bind " + path + ": cannot ask the kernel which file the socket made (no unix_diag module?)";
    unlinkat(parent.get(), name.c_str(), 0);
    return {};
  }
  UniqueFd inode(openat(parent.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!inode || fstat(inode.get(), &st) != 0 || !same_file(st, bound_inode, bound_dev)) {
    error = "bind " + path + ": something else was put in the socket's place before its owner and mode were set";
    return {};
  }
  if (!set_owner_and_mode(inode.get(), owner, path, error)) {
    unlinkat(parent.get(), name.c_str(), 0);
    return {};
  }
  if (listen(socket, backlog) != 0) {
    error = errno_text("listen", path);
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
  return set_owner_and_mode(inode.get(), owner, file.path, error);
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
