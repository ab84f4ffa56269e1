#include "worker/connection_handoff.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/fd_passing.h"
#include "util/log.h"
#include "wsgi_fpm/descriptors.h"

namespace wsgi_fpm::worker {

namespace {
int g_handoff_fd = -1;
}  // namespace

bool use_handoff_socket(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  g_handoff_fd = fd;
  return true;
}

bool hand_over_connections(const int* fds, std::size_t count) {
  HandoffRecord record{static_cast<std::uint32_t>(count)};
  if (send_fds(g_handoff_fd, &record, sizeof record, fds, count)) return true;
  log::warning("cannot hand {} keep-alive connection(s) over: {}", count, std::strerror(errno));
  return false;
}

bool receive_connections(const std::function<void(UniqueFd)>& adopt) {
  // Bounded: a record per connection at worst, and a process has at most as
  // many as its descriptors; the socket is emptied long before.
  for (int i = 0; i < 4096; ++i) {
    HandoffRecord record{};
    std::vector<UniqueFd> fds;
    ssize_t n = receive_fds(g_handoff_fd, &record, sizeof record, fds, kHandoffMaxFds);
    for (auto& fd : fds) adopt(std::move(fd));
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EMSGSIZE) continue;  // what came was adopted; a record cut short
      log::error("handoff socket: {}", std::strerror(errno));
      return false;
    }
  }
  return true;
}

}  // namespace wsgi_fpm::worker
