#include "config/check_command.h"

#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "config/load.h"
#include "util/descriptor_limit.h"
#include "util/socket_file.h"

namespace wsgi_fpm::config {
namespace {

constexpr const char* kUsage =
    "usage: wsgi-fpm check [-c FILE]\n"
    "\n"
    "Validate a wsgi-fpm configuration and the files it includes, without\n"
    "starting anything. Users and groups are looked up as the supervisor would\n"
    "look them up, so run it as the user that runs wsgi-fpm (normally root).\n"
    "\n"
    "  -c, --config FILE  the configuration (default: {})\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 if valid; 1 with every error on stderr as\n"
    "FILE:LINE:COLUMN: message; 2 on a usage error. Warnings (a socket's\n"
    "directory that someone other than root may write, more descriptors\n"
    "needed than this shell's hard limit allows) go to stderr as\n"
    "FILE:LINE:COLUMN: warning: message, and leave the status 0.\n";

// Whoever may write a socket's directory may remove the socket, or put
// something in its place before the supervisor binds it; the supervisor
// never follows what it finds there (util/socket_file.h), but the pool is
// at that user's mercy all the same.
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

}  // namespace

int check_command(int argc, char** argv) {
  std::string path = kDefaultConfigPath;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      fmt::print(kUsage, kDefaultConfigPath);
      return 0;
    }
    if (arg == "-c" || arg == "--config") {
      if (i + 1 == argc) {
        fmt::print(stderr, "wsgi-fpm check: {} needs a FILE\n", arg);
        return 2;
      }
      path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      path = std::string(arg.substr(9));
    } else {
      fmt::print(stderr, "wsgi-fpm check: unexpected argument '{}'\n", arg);
      fmt::print(stderr, kUsage, kDefaultConfigPath);
      return 2;
    }
  }

  auto users = UserDbSnapshot::of_system();
  LoadResult result = load_file(path, users);
  if (!result.ok()) {
    // Nothing but the errors on stderr, one per line: editors and CI
    // annotate FILE:LINE:COLUMN lines directly.
    for (const auto& error : result.errors) fmt::print(stderr, "{}\n", error.str());
    return 1;
  }
  std::size_t n = result.config->pools.size();
  fmt::print("{}: ok, {} pool{}\n", path, n, n == 1 ? "" : "s");
  for (const auto& warning : socket_directory_warnings(*result.config)) fmt::print(stderr, "{}\n", warning.str());
  // The supervisor raises its soft limit to the hard one; past that, spawns
  // fail with EMFILE (they back off and are logged, but the pools starve).
  std::uint64_t needed = descriptors_needed(*result.config), hard = descriptor_limit().hard;
  if (needed > hard)
    fmt::print(stderr,
               "{}: warning: {} pool{} with every process running need about {} descriptors, but the "
               "descriptor limit here is {} (raise LimitNOFILE= in the unit, or ulimit -Hn)\n",
               result.config->location_of("pools").str(), n, n == 1 ? "" : "s", needed, hard);
  return 0;
}

}  // namespace wsgi_fpm::config
