#include "worker/process_title.h"

#include <sys/prctl.h>

#include <cstring>

namespace wsgi_fpm::worker {

std::string expand_display_name(const std::string& pattern, const std::string& pool) {
  std::string out = pattern;
  const std::string token = "%{GROUP}";
  for (auto at = out.find(token); at != std::string::npos; at = out.find(token, at)) {
    std::string group = "(wsgi:" + pool + ")";
    out.replace(at, token.size(), group);
    at += group.size();
  }
  return out;
}

void set_process_title(int argc, char** argv, const std::string& title) {
  if (argc < 1 || title.empty()) return;
  // The kernel shows /proc/PID/cmdline from the original argv area, which is
  // contiguous; the options are already parsed, so it may be overwritten.
  char* start = argv[0];
  char* end = argv[argc - 1] + std::strlen(argv[argc - 1]);
  std::size_t room = static_cast<std::size_t>(end - start);
  std::size_t n = std::min(room, title.size());
  std::memcpy(start, title.data(), n);
  std::memset(start + n, 0, room - n + 1);
  prctl(PR_SET_NAME, title.substr(0, 15).c_str(), 0, 0, 0);
}

}  // namespace wsgi_fpm::worker
