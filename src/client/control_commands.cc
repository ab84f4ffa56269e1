// The commands that talk to a running supervisor over its control socket.
#include "client/control_commands.h"

#include <yaml-cpp/yaml.h>

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <string>

#include "config/check_command.h"
#include "config/load.h"
#include "config/user_db.h"
#include "supervisor/control_server.h"
#include "util/fd.h"

namespace wsgi_fpm::client {
namespace {

struct Args {
  std::string config = config::kDefaultConfigPath;
  bool json = false;
  bool no_wait = false;
};

enum Flags { kNone = 0, kJson = 1, kNoWait = 2 };

bool parse(const char* name, const char* usage, int flags, int argc, char** argv, Args& out, int& exit_code) {
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
    } else if ((flags & kJson) && a == "--json") {
      out.json = true;
    } else if ((flags & kNoWait) && a == "--no-wait") {
      out.no_wait = true;
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

int ask(const char* name, const std::string& config_path, const std::string& command, bool print_reply,
        std::string* reply_out = nullptr) {
  std::string reply, error;
  if (!supervisor::control_request(control_socket_of(config_path), command, reply, error)) {
    if (!error.empty()) std::cerr << "wsgi-fpm " << name << ": " << error << "\n";
    std::cerr << reply;
    return 1;
  }
  if (print_reply) std::cout << reply;
  if (reply_out) *reply_out = reply;
  return 0;
}

// Until the process `pid` has exited: a pidfd turns readable then (zombie or
// reaped), so no polling and no mistaking a reused pid for it.
void wait_for_exit(pid_t pid) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    return;
  }
  while (kill(pid, 0) == 0 || errno == EPERM) usleep(50 * 1000);  // a kernel before 5.3
}

}  // namespace

int status_command(int argc, char** argv) {
  Args args;
  int code = 0;
  if (!parse("status", "usage: wsgi-fpm status [-c FILE] [--json]\n\n"
             "Shows every pool and process of the running supervisor: addresses, users,\n"
             "requests served and in flight, restarts, and each process's state and RSS.\n",
             kJson, argc, argv, args, code))
    return code;
  return ask("status", args.config, args.json ? "status json" : "status", true);
}

int reload_command(int argc, char** argv) {
  Args args;
  int code = 0;
  if (!parse("reload", "usage: wsgi-fpm reload [-c FILE]\n\n"
             "Makes the running supervisor re-read FILE. If FILE is invalid, prints its\n"
             "errors and exits 1; the running configuration keeps serving.\n",
             kNone, argc, argv, args, code))
    return code;
  // Check here first, so the errors print even when the supervisor reads
  // the same file and refuses it.
  auto users = config::UserDbSnapshot::of_system();
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
  if (!parse("stop", "usage: wsgi-fpm stop [-c FILE] [--no-wait]\n\n"
             "Stops the running supervisor gracefully: requests in flight finish, then\n"
             "every worker exits and every socket is removed. Returns once the supervisor\n"
             "has exited (at most its shutdown-timeout), or at once with --no-wait.\n",
             kNoWait, argc, argv, args, code))
    return code;
  std::string reply;
  int rc = ask("stop", args.config, "stop", false, &reply);
  if (rc != 0 || args.no_wait) return rc;
  long pid = 0;
  if (std::sscanf(reply.c_str(), "pid %ld", &pid) == 1 && pid > 0) wait_for_exit(static_cast<pid_t>(pid));
  return 0;
}

}  // namespace wsgi_fpm::client
