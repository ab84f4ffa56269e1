// The commands that talk to a running supervisor over its control socket.
#include "client/control_commands.h"

#include <yaml-cpp/yaml.h>

#include <iostream>
#include <string>

#include "config/check_command.h"
#include "config/load.h"
#include "config/user_db.h"
#include "supervisor/control_server.h"

namespace wsgi_fpm::client {
namespace {

struct Args {
  std::string config = config::kDefaultConfigPath;
  bool json = false;
};

bool parse(const char* name, const char* usage, bool allow_json, int argc, char** argv, Args& out, int& exit_code) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      exit_code = 0;
      return false;
    }
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      out.config = argv[++i];
    } else if (a.starts_with("--config=")) {
      out.config = a.substr(9);
    } else if (allow_json && a == "--json") {
      out.json = true;
    } else {
      std::cerr << "wsgi-fpm " << name << ": unexpected argument '" << a << "' (see --help)\n";
      exit_code = 2;
      return false;
    }
  }
  return true;
}

// Where the running supervisor listens: runtime-dir of the config. Read with
// plain YAML so a config with errors elsewhere still finds the supervisor.
std::string control_socket_of(const std::string& config_path) {
  std::string dir = "/run/wsgi-fpm";
  try {
    YAML::Node root = YAML::LoadFile(config_path);
    if (root.IsMap() && root["runtime-dir"] && root["runtime-dir"].IsScalar())
      dir = root["runtime-dir"].as<std::string>();
  } catch (const YAML::Exception&) {
    // fall back to the default directory
  }
  return dir + "/control.sock";
}

int ask(const char* name, const std::string& config_path, const std::string& command, bool print_reply) {
  std::string reply, error;
  if (!supervisor::control_request(control_socket_of(config_path), command, reply, error)) {
    if (!error.empty()) std::cerr << "wsgi-fpm " << name << ": " << error << "\n";
    std::cerr << reply;
    return 1;
  }
  if (print_reply) std::cout << reply;
  return 0;
}

}  // namespace

int status_command(int argc, char** argv) {
  Args args;
  int code = 0;
  if (!parse("status", "usage: wsgi-fpm status [-c FILE] [--json]\n\n"
             "Shows every pool and process of the running supervisor: addresses, users,\n"
             "requests served and in flight, restarts, and each process's state and RSS.\n",
             true, argc, argv, args, code))
    return code;
  return ask("status", args.config, args.json ? "status json" : "status", true);
}

int reload_command(int argc, char** argv) {
  Args args;
  int code = 0;
  if (!parse("reload", "usage: wsgi-fpm reload [-c FILE]\n\n"
             "Makes the running supervisor re-read FILE. If FILE is invalid, prints its\n"
             "errors and exits 1; the running configuration keeps serving.\n",
             false, argc, argv, args, code))
    return code;
  // Check here first, so the errors print even when the supervisor reads
  // the same file and refuses it.
  config::SystemUserDb users;
  auto result = config::load_file(args.config, users);
  if (!result.ok()) {
    for (const auto& d : result.errors) std::cerr << d.str() << "\n";
    std::cerr << "wsgi-fpm reload: " << args.config << " is invalid; the running configuration is unchanged\n";
    return 1;
  }
  int rc = ask("reload", args.config, "reload", false);
  if (rc == 0) std::cout << "reloaded " << args.config << "\n";
  return rc;
}

int stop_command(int argc, char** argv) {
  Args args;
  int code = 0;
  if (!parse("stop", "usage: wsgi-fpm stop [-c FILE]\n\n"
             "Stops the running supervisor gracefully: requests in flight finish, then\n"
             "every worker exits and every socket is removed.\n",
             false, argc, argv, args, code))
    return code;
  return ask("stop", args.config, "stop", false);
}

}  // namespace wsgi_fpm::client
