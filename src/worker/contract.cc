#include "worker/contract.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "util/descriptors.h"

namespace wsgi_fpm::worker {
namespace {

// Never on the contract's own numbers, which get /dev/null.
constexpr int above_contract() {
  int top = 2;
  for (int fd : kContractFds) top = std::max(top, fd);
  return top + 1;
}

int high_base() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return kHighFdBase;
  // Leave room under the limit for the ones we keep.
  long room = static_cast<long>(r.rlim_cur) - 16;
  return static_cast<int>(std::clamp<long>(room, above_contract(), kHighFdBase));
}

}  // namespace

int keep_high(int fd) {
  if (fd < 0) return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, high_base());
  if (high < 0) return fd;
  ::close(fd);
  return high;
}

Contract Contract::take(int listen_fd) {
  std::vector<int> given(std::begin(kContractFds), std::end(kContractFds));
  if (std::find(given.begin(), given.end(), listen_fd) == given.end() && listen_fd > 2) given.push_back(listen_fd);
  close_descriptors_except(3, given);
  Contract c;
  std::size_t i = 0;
  for (int fd : given) {
    if (fcntl(fd, F_GETFD) != -1) c.where_[i++] = {fd, keep_high(fd)};
  }
  // The contract's own numbers hold /dev/null from now on, so an app that
  // closes "fd 3" or "fd 5" closes nothing live. Left free, the next accepted
  // connection would take 3, and os.close(3) would cut a client off.
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);  // 3, as a rule: the lowest free
  if (null >= 0) {
    for (int fd : given) {
      bool kept_here = std::any_of(c.where_.begin(), c.where_.end(), [fd](auto& w) { return w.second == fd; });
      if (fd != null && !kept_here) dup3(null, fd, O_CLOEXEC);  // kept here: it could not be moved
    }
    if (std::find(given.begin(), given.end(), null) == given.end()) ::close(null);
  }
  return c;
}

int Contract::fd(int given) const {
  for (const auto& [g, now] : where_)
    if (g == given && given >= 0) return now;
  return -1;
}

void Contract::replace(int given, int fd) {
  for (auto& [g, now] : where_) {
    if (g == given && given >= 0) {
      if (now != fd) {
        dup3(fd, now, O_CLOEXEC);
        ::close(fd);
      }
      return;
    }
  }
  for (auto& slot : where_) {
    if (slot.first < 0) {
      slot = {given, keep_high(fd)};
      return;
    }
  }
}

void Contract::close(int given) {
  for (auto& slot : where_) {
    if (slot.first == given && given >= 0) {
      ::close(slot.second);
      slot = {-1, -1};
    }
  }
}

FdIdentity::FdIdentity(int fd) : fd_(fd) {
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  } else {
    fd_ = -1;
  }
}

bool FdIdentity::intact() const {
  struct stat st;
  return fd_ >= 0 && fstat(fd_, &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
}

}  // namespace wsgi_fpm::worker
