#include "util/descriptors.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <vector>

namespace wsgi_fpm {
namespace {

// The fallback for kernels without close_range (before 5.9) or its
// CLOSE_RANGE_CLOEXEC (before 5.11): the open ones, from /proc.
std::vector<int> open_descriptors(int first) {
  std::vector<int> open;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return open;
  while (dirent* e = readdir(dir)) {
    char* end;
    long fd = std::strtol(e->d_name, &end, 10);
    if (*end == '\0' && end != e->d_name && fd >= first && fd != dirfd(dir)) open.push_back(static_cast<int>(fd));
  }
  closedir(dir);
  return open;
}

}  // namespace

void close_descriptors_except(int first, std::span<const int> keep) {
  std::vector<int> kept(keep.begin(), keep.end());
  std::sort(kept.begin(), kept.end());
  unsigned from = static_cast<unsigned>(first);
  bool done = true;
  for (int fd : kept) {
    if (fd < first) continue;
    if (static_cast<unsigned>(fd) > from && close_range(from, static_cast<unsigned>(fd) - 1, 0) != 0) done = false;
    from = static_cast<unsigned>(fd) + 1;
  }
  if (close_range(from, UINT_MAX, 0) != 0) done = false;
  if (done) return;
  for (int fd : open_descriptors(first)) {
    if (!std::binary_search(kept.begin(), kept.end(), fd)) close(fd);
  }
}

void mark_cloexec_from(int first) {
  if (close_range(static_cast<unsigned>(first), UINT_MAX, CLOSE_RANGE_CLOEXEC) == 0) return;
  for (int fd : open_descriptors(first)) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

}  // namespace wsgi_fpm
