#include "config/check_command.h"

#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "config/load.h"

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
    "FILE:LINE:COLUMN: message; 2 on a usage error.\n";

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

  SystemUserDb users;
  LoadResult result = load_file(path, users);
  if (!result.ok()) {
    // Nothing but the errors on stderr, one per line: editors and CI
    // annotate FILE:LINE:COLUMN lines directly.
    for (const auto& error : result.errors) fmt::print(stderr, "{}\n", error.str());
    return 1;
  }
  std::size_t n = result.config->pools.size();
  fmt::print("{}: ok, {} pool{}\n", path, n, n == 1 ? "" : "s");
  return 0;
}

}  // namespace wsgi_fpm::config
