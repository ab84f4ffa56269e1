// wsgi-fpm check [-c FILE]: validates a configuration without running it.
#include <cstdint>
#include <cstdio>
#include <string>

#include <fmt/core.h>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "config/load.h"
#include "config/warnings.h"
#include "util/descriptor_limit.h"

namespace wsgi_fpm::cli {
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

}  // namespace

int check_command(int argc, char** argv) {
  using namespace config;
  std::string path;
  Arguments args("check", fmt::format(kUsage, kDefaultConfigPath));
  args.config(&path);
  if (int status = args.parse(argc, argv); status >= 0) return status;

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

}  // namespace wsgi_fpm::cli
