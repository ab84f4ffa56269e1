// What the supervisor tells a worker on its command line. Names and numbers
// only: the supervisor resolved users and groups, so a worker never needs to
// read /etc/passwd after dropping privileges.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wsgi_fpm/worker_settings.h"

namespace wsgi_fpm::worker {

using AppOptions = AppSettings;  // wsgi_fpm/worker_settings.h

// The settings of wsgi_fpm/worker_settings.h, and what the supervisor
// works out for each worker.
struct WorkerOptions : WorkerSettings {
  int listen_fd = 3;
  std::string protocol = "fastcgi";
  std::string pool = "wsgi";
  bool multiprocess = false;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::vector<gid_t> groups;
  std::optional<mode_t> umask;
  std::string home;
  std::string python_home;
  std::vector<AppOptions> apps;
  pid_t supervisor_pid = 0;
  // The soft RLIMIT_NOFILE the supervisor was started with (it raised its
  // own to the hard limit): the worker goes back to it. 0: leave as is.
  std::uint64_t descriptor_limit = 0;
  bool log_bare = false;  // the supervisor prefixes our stderr lines itself
  std::vector<std::string> allowed_clients;  // TCP peers: networks; empty: anyone
  std::optional<uid_t> script_uid;         // script-user: scripts must be owned by it
  std::optional<gid_t> script_gid;         // script-group
  // preload-fork: be the pool's template (fork_template.h) rather than serve.
  bool fork_template = false;
  // Be the shared zygote (zygote.h): start Python as root, import no app,
  // and fork the workers of many pools, each told its own command line.
  bool zygote = false;
};

// Parses `--key value` pairs. False with `error` naming the bad argument.
bool parse_worker_options(int argc, char** argv, WorkerOptions& out, std::string& error);

// The command line that parse_worker_options reads back (for the supervisor).
std::vector<std::string> worker_arguments(const WorkerOptions& options);

}  // namespace wsgi_fpm::worker
