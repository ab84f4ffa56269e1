#include "config/warnings.h"

#include <sys/stat.h>

#include <set>
#include <string>

#include "util/socket_file.h"

namespace wsgi_fpm::config {

std::vector<Diagnostic> socket_directory_warnings(const Config& config) {
  std::vector<Diagnostic> out;
  auto warn = [&](const SourceLocation& where, const std::string& what, const std::string& dir) {
    for (const auto& finding : unsafe_socket_directory(dir))
      out.push_back({where, "warning: " + what + ": " + finding + "; only root should be able to write there"});
  };
  // A runtime-dir not made yet will be made in its parent.
  struct stat st;
  const std::string& run = config.runtime_dir;
  warn(config.location_of("runtime-dir"), "runtime-dir " + run, stat(run.c_str(), &st) == 0 ? run : directory_of(run));
  for (const auto& pool : config.pools) {
    if (pool.listen.kind != Address::Kind::Unix) continue;
    std::string dir = directory_of(pool.listen.path);
    if (dir == run) continue;  // said once above
    warn(pool.location_of("listen"), "the directory of pool " + pool.name + "'s socket", dir);
  }
  return out;
}

// The descriptors the supervisor holds with every pool at full strength:
// its own (loop, signals, logs, control socket), each pool's listening
// socket (and a template's, with preload-fork), per process its stdout,
// stderr and notify pipes and hand-off socket, and a pidfd for a process
// forked (from a template or the zygote), and the zygote's own four.
std::uint64_t descriptors_needed(const Config& config) {
  std::uint64_t n = 32;
  std::set<std::string> logs;
  bool zygote = false;
  for (const auto& pool : config.pools) {
    bool forked = pool.preload_fork || (pool.zygote && !pool.python_home);
    zygote = zygote || (pool.zygote && !pool.python_home);
    n += 1 + (pool.preload_fork ? 5 : 0) + (forked ? 5 : 4) * static_cast<std::uint64_t>(pool.processes);
    if (pool.error_log) logs.insert(*pool.error_log);
  }
  return n + logs.size() + (zygote ? 4 : 0);
}

}  // namespace wsgi_fpm::config
