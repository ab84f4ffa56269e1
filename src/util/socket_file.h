// The file a UNIX socket is bound to, handled so that nobody who can write
// the socket's directory can turn root's work on it against another file.
//
// A tenant who may write the directory can swap what sits at the path between
// any two calls that take the path (seen: a symlink renamed over the socket
// between bind() and chown() made a root-owned 0600 file the tenant's within
// 120 restarts). So the path is never followed after bind(): what it names
// is opened once with O_NOFOLLOW, proven to be the socket just bound (the
// kernel's socket diagnostics, as `ss -x` reads them, name the inode the
// socket made), and owner and mode are set through the descriptor before
// the socket listens. The socket
// is remembered by its inode, and later changes (a reload's new owner or
// mode, the removal at stop) act only while the path still names that inode.
// (Binding in a private directory and renaming into place would do as well,
// but the kernel keeps the address given to bind(): ss, lsof and
// /proc/net/unix would show the private path for ever.)
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/fd.h"

namespace wsgi_fpm {

struct SocketOwnership {
  uid_t uid = static_cast<uid_t>(-1);  // -1: leave as created
  gid_t gid = static_cast<gid_t>(-1);
  mode_t mode = 0660;
};

// The inode a socket was bound to, and where.
struct SocketFile {
  std::string path;
  dev_t device = 0;
  ino_t inode = 0;
  explicit operator bool() const { return !path.empty(); }
};

// Binds `socket` (a UNIX stream socket, not yet bound) at `path` with exactly
// `owner` and listens, replacing a stale socket file there. Fails if
// something other than a socket is at the path, or a process answers on the
// socket there, or the path was swapped under it. Returns an empty
// SocketFile and sets `error` on failure.
SocketFile bind_socket_file(int socket, const std::string& path, const SocketOwnership& owner, int backlog,
                           std::string& error);

// True while `file.path` names the inode that was bound.
bool socket_file_in_place(const SocketFile& file);

// Removes the path only if it still names the bound inode: a newer socket
// someone else bound at the same path stays.
void remove_socket_file(const SocketFile& file);

// New owner and mode for the bound inode, through a descriptor of it. Fails
// if the path no longer names it.
bool change_socket_ownership(const SocketFile& file, const SocketOwnership& owner, std::string& error);

// The directory a path's last component is in: "/run/x/a.sock" -> "/run/x",
// "a.sock" -> ".", "/a.sock" -> "/".
std::string directory_of(const std::string& path);

// What makes `dir` (and the directories above it) unsafe for sockets: owned
// by someone other than root, or writable by group or others (the sticky bit
// does not help: a tenant may still create the name first). Empty if safe.
// Each finding is one line: "/srv/a is writable by group 1001 (mode 0775)".
std::vector<std::string> unsafe_socket_directory(const std::string& dir);

}  // namespace wsgi_fpm
