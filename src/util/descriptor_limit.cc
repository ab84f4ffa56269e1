#include "util/descriptor_limit.h"

#include <dirent.h>

namespace wsgi_fpm {
namespace {

DescriptorLimit g_original;
bool g_raised = false;

}  // namespace

DescriptorLimit descriptor_limit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  return {static_cast<std::uint64_t>(r.rlim_cur), static_cast<std::uint64_t>(r.rlim_max)};
}

DescriptorLimit raise_descriptor_limit() {
  DescriptorLimit before = descriptor_limit();
  if (!g_raised) {
    g_original = before;
    g_raised = true;
  }
  if (before.soft < before.hard) {
    rlimit r{static_cast<rlim_t>(before.hard), static_cast<rlim_t>(before.hard)};
    setrlimit(RLIMIT_NOFILE, &r);
  }
  return before;
}

DescriptorLimit original_descriptor_limit() { return g_raised ? g_original : descriptor_limit(); }

bool lower_descriptor_limit(std::uint64_t soft) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return false;
  if (soft == 0 || static_cast<std::uint64_t>(r.rlim_cur) <= soft) return true;
  r.rlim_cur = static_cast<rlim_t>(soft);
  return setrlimit(RLIMIT_NOFILE, &r) == 0;
}

std::uint64_t open_descriptors() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  std::uint64_t n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n > 0 ? n - 1 : 0;  // not the directory's own
}

}  // namespace wsgi_fpm
