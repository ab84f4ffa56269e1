// wsgi-fpm: the command line. Each subcommand lives with the module it drives.
#include <cstring>
#include <iostream>
#include <string>

#include "build_config.h"
#include "client/control_commands.h"
#include "client/request_command.h"
#include "config/check_command.h"
#include "supervisor/serve_command.h"
#include "supervisor/supervisor.h"

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
  std::string command = argv[1];
  if (command == "serve") return wsgi_fpm::supervisor::serve_command(argc - 1, argv + 1);
  if (command == "run") return wsgi_fpm::supervisor::run_command(argc - 1, argv + 1);
  if (command == "status") return wsgi_fpm::client::status_command(argc - 1, argv + 1);
  if (command == "reload") return wsgi_fpm::client::reload_command(argc - 1, argv + 1);
  if (command == "stop") return wsgi_fpm::client::stop_command(argc - 1, argv + 1);
  if (command == "check") return wsgi_fpm::config::check_command(argc - 1, argv + 1);
  if (command == "request") return wsgi_fpm::client::request_command(argc - 1, argv + 1);
  if (command == "version" || command == "--version") {
    std::cout << "wsgi-fpm " << WSGI_FPM_VERSION << "\n";
    return 0;
  }
  std::cerr << "wsgi-fpm: unknown command '" << command << "' (see wsgi-fpm --help)\n";
  return 2;
}
