// The loaded configuration: plain values, already validated and resolved
// (users and groups to ids, addresses parsed, defaults filled in), so the
// supervisor and the worker never re-interpret YAML. Key names in comments are
// the YAML spellings, which are mod_wsgi's WSGIDaemonProcess option names
// wherever mod_wsgi has the option; man/wsgi-fpm.yaml.5 documents each one.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/process_manager_mode.h"
#include "config/source_location.h"
#include "wsgi_fpm/worker_settings.h"
#include "util/address.h"
#include "util/network.h"

namespace wsgi_fpm::config {

// Addresses and client networks are spelled as everywhere else (util/).
using wsgi_fpm::Address;
using wsgi_fpm::Network;
using wsgi_fpm::parse_address;
using wsgi_fpm::parse_network;

enum class Protocol { FastCgi, Scgi };

const char* to_string(Protocol p);        // "fastcgi" | "scgi"

// A user or group: the name as written (or as found in the password database
// when defaulted) and the numeric id the worker switches to.
struct UserRef {
  std::string name;
  uid_t uid = 0;
  friend bool operator==(const UserRef&, const UserRef&) = default;
};
struct GroupRef {
  std::string name;
  gid_t gid = 0;
  friend bool operator==(const GroupRef&, const GroupRef&) = default;
};

// One WSGI application of a pool (wsgi_fpm/worker_settings.h). Under the
// pool: preload and own-gil are the pool's unless the app sets its own;
// own-gil is never true for %{GLOBAL} (the main interpreter).
struct App : AppSettings {
  SourceLocation where;  // the list item
  KeyLocations locations;
  const SourceLocation& location_of(std::string_view key) const { return locations.at(key, where); }
};

// One process group (WSGIDaemonProcess NAME ...). Durations are seconds, sizes
// bytes; 0 means "off" where the comment says so. The settings a worker takes
// as they are (threads, timeouts, limits, display-name, python-path...) are
// WorkerSettings' (wsgi_fpm/worker_settings.h).
struct Pool : WorkerSettings {
  std::string name;

  // Identity. Running as root every pool names its user; as anyone else the
  // pool runs as that user. group defaults to the user's primary group.
  UserRef user;                                // user
  GroupRef group;                              // group
  std::vector<GroupRef> supplementary_groups;  // supplementary-groups
  bool allow_root = false;                     // allow-root
  std::optional<mode_t> umask;                 // umask: absent = inherit the supervisor's
  std::string home;                            // home: working directory; default the user's home
  std::optional<UserRef> script_user;          // script-user: scripts must be owned by it
  std::optional<GroupRef> script_group;        // script-group

  // Processes and threads.
  int processes = 1;             // processes
  bool processes_given = false;  // wsgi.multiprocess is True iff the key was given
  ProcessManagerMode process_manager = ProcessManagerMode::Static;  // process-manager
  int process_idle_timeout = 10;  // process-idle-timeout (ondemand)
  int min_spare = 1;              // min-spare (dynamic)
  int max_spare = 1;              // max-spare (dynamic); default: processes

  // The socket.
  Address listen;                 // listen: default <runtime-dir>/<name>.sock
  Protocol protocol = Protocol::FastCgi;  // protocol
  UserRef socket_user;            // socket-user: default the pool's user
  GroupRef socket_group;          // socket-group: default the pool's group
  mode_t socket_mode = 0660;      // socket-mode
  int listen_backlog = 1024;      // listen-backlog: mod_wsgi says 100, see the man page
  std::vector<Network> allowed_clients;  // allowed-clients (TCP): default loopback

  // Python.
  std::optional<std::string> python_home;  // python-home
  std::string lang = "C.UTF-8";            // lang: LANG in the environment
  std::string locale = "C.UTF-8";          // locale: setlocale(LC_ALL)
  std::map<std::string, std::string> environment;  // environment
  bool script_reloading = true;            // script-reloading
  bool preload = false;                    // preload: import every app at process start
  bool preload_fork = false;               // preload-fork: fork workers from a template
  bool own_gil = false;                    // own-gil: every app's sub-interpreter has a GIL of its own
  int template_idle_timeout = -1;          // template-idle-timeout: -1 = process-idle-timeout, 0 = never
  bool zygote = true;                      // zygote: fork workers from the shared zygote
  std::vector<App> apps;                   // apps

  // Recycling and timeouts (seconds; 0 = off unless noted).
  int restart_interval = 0;    // restart-interval
  int inactivity_timeout = 0;  // inactivity-timeout
  int startup_timeout = 15;    // startup-timeout

  // Limits.
  std::uint64_t maximum_memory = 0;            // maximum-memory: RSS that replaces a process, 0 = off

  std::optional<std::string> error_log;  // error-log: absent = the supervisor's log

  SourceLocation where;  // the pool's name in its mapping
  KeyLocations locations;
  const SourceLocation& location_of(std::string_view key) const { return locations.at(key, where); }
};

struct Config {
  std::string source_file;  // the file given to load_file()
  std::string runtime_dir = "/run/wsgi-fpm";  // runtime-dir
  std::string log = "stderr";                 // log: "stderr" or an absolute path
  std::vector<std::string> include;           // include: glob patterns as written
  std::vector<std::string> included_files;    // the files they matched, in load order
  std::vector<Pool> pools;                    // main file's pools first, then each include's

  SourceLocation where;  // start of the main file
  KeyLocations locations;
  const SourceLocation& location_of(std::string_view key) const { return locations.at(key, where); }

  const Pool* find_pool(std::string_view name) const {
    for (const auto& p : pools) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }
};

}  // namespace wsgi_fpm::config
