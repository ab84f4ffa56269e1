#include "worker/contract.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "util/descriptors.h"

namespace wsgi_fpm::worker {

Contract Contract::take(int listen_fd) {
  std::vector<int> given(std::begin(kContractFds), std::end(kContractFds));
  if (std::find(given.begin(), given.end(), listen_fd) == given.end() && listen_fd > 2) given.push_back(listen_fd);
  close_descriptors_except(3, given);
  Contract c;
  std::size_t i = 0;
  for (int fd : given) {
    if (fcntl(fd, F_GETFD) != -1) c.where_[i++] = {fd, fd};
  }
  return c;
}

int Contract::fd(int given) const {
  for (const auto& [g, now] : where_)
    if (g == given && given >= 0) return now;
  return -1;
}

}  // namespace wsgi_fpm::worker
