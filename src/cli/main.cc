// wsgi-fpm: the command line. Each command is a file of src/cli/, parsing
// its options with cli/arguments.h and driving the layer it is about.
#include <cstring>
#include <iostream>
#include <string>

#include "build_config.h"
#include "cli/commands.h"

namespace {

constexpr const char* kUsage = R"(usage: wsgi-fpm COMMAND [options]

A FastCGI/SCGI process manager for Python WSGI applications: mod_wsgi's
daemon mode behind any web server.

commands:
  run [-c FILE]    start the supervisor with the configuration FILE
                   (default /etc/wsgi-fpm/wsgi-fpm.yaml), in the foreground
  status           show the running supervisor's pools and processes
  reload           make the running supervisor re-read its configuration
  stop             stop the running supervisor gracefully
  serve SCRIPT     serve one WSGI script in the foreground (zero-config mode)
  check [-c FILE]  validate a configuration file
  request ADDR     send one FastCGI or SCGI request and print the response
  version          print the version

Run 'wsgi-fpm COMMAND --help' for a command's options.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  namespace cli = wsgi_fpm::cli;
  struct Command {
    const char* name;
    int (*run)(int, char**);
  };
  static constexpr Command kCommands[] = {
      {"run", cli::run_command},       {"serve", cli::serve_command},   {"check", cli::check_command},
      {"status", cli::status_command}, {"reload", cli::reload_command}, {"stop", cli::stop_command},
      {"request", cli::request_command},
  };
  std::string command = argv[1];
  for (const auto& c : kCommands) {
    if (command == c.name) return c.run(argc - 1, argv + 1);
  }
  if (command == "version" || command == "--version") {
    std::cout << "wsgi-fpm " << WSGI_FPM_VERSION << "\n";
    return 0;
  }
  std::cerr << "wsgi-fpm: unknown command '" << command << "' (see wsgi-fpm --help)\n";
  return 2;
}
