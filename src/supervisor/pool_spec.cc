#include "supervisor/pool_spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "supervisor/worker_environment.h"
#include "util/users.h"
#include "wsgi_fpm/descriptors.h"

namespace wsgi_fpm::supervisor {

namespace {

// Which shared zygote may fork this pool's workers: one whose Python was
// started exactly as this pool's would be. Python itself is started the
// same for every pool of the system interpreter but for the locale; what
// the process takes from its environment at exec (the dynamic loader's and
// glibc's variables) a fork cannot give it. None ("") for a virtualenv
// (python-home: its site-packages would be read by root), or when the pool
// says `zygote: false`. With preload-fork, the zygote forks the template.
std::string zygote_for(const config::Pool& p, const PoolSpec& s) {
  if (!p.zygote || p.python_home) return "";
  for (const auto& [name, value] : p.environment) {
    if (name.starts_with("LD_") || name.starts_with("GLIBC_") || name.starts_with("MALLOC_")) return "";
  }
  return s.worker_executable + "\nLANG=" + p.lang + "\nLC_ALL=" + p.locale;
}

}  // namespace

bool make_pool_spec(const config::Pool& p, const config::UserDb& users, PoolSpec& s, std::string& error) {
  s.name = p.name;
  s.listen = p.listen;
  bool root = users.effective_uid() == 0;
  s.socket_owner.uid = root ? p.socket_user.uid : static_cast<uid_t>(-1);
  s.socket_owner.gid = root ? p.socket_group.gid : static_cast<gid_t>(-1);
  s.socket_owner.mode = p.socket_mode;
  s.listen_backlog = p.listen_backlog;
  s.processes = p.processes;
  s.user_name = p.user.name;

  auto user = users.user_by_name(p.user.name);
  if (!user) {
    error = p.location_of("user").str() + ": user '" + p.user.name + "' no longer exists";
    return false;
  }
  auto& w = s.worker;
  w.pool = p.name;
  w.protocol = config::to_string(p.protocol);
  w.multiprocess = p.processes_given;
  if (root) {
    w.uid = p.user.uid;
    w.gid = p.group.gid;
    // initgroups() semantics, plus the configured supplementary groups.
    w.groups = users.groups_of(user->name, p.group.gid);
    for (const auto& g : p.supplementary_groups) {
      if (std::find(w.groups.begin(), w.groups.end(), g.gid) == w.groups.end()) w.groups.push_back(g.gid);
    }
  }
  w.umask = p.umask;
  // mod_wsgi starts in the user's home unless `home` says otherwise; system
  // users often have none, and then "/" it is.
  struct stat st;
  if (p.locations.has("home")) {
    w.home = p.home;
  } else if (!user->home.empty() && stat(user->home.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    w.home = user->home;
  } else {
    w.home = "/";
  }
  w.python_home = p.python_home.value_or("");
  for (const auto& app : p.apps) {
    w.apps.push_back(app);  // its AppSettings
    s.scripts.push_back(app.script);
  }
  static_cast<WorkerSettings&>(w) = p;  // every row of wsgi_fpm/worker_settings.h
  if (p.listen.is_tcp()) {
    for (const auto& n : p.allowed_clients) w.allowed_clients.push_back(n.str());
  }
  if (p.script_user) w.script_uid = p.script_user->uid;
  if (p.script_group) w.script_gid = p.script_group->gid;

  s.worker_executable = find_worker_executable();
  s.environment = worker_environment(Account{user->name, user->uid, user->gid, user->home}, p.lang, p.locale, p.environment);
  s.startup_timeout = p.startup_timeout;
  s.restart_interval = p.restart_interval;
  s.inactivity_timeout = p.inactivity_timeout;
  s.maximum_memory = p.maximum_memory;
  s.manager.mode = p.process_manager;
  s.manager.min_spare = p.min_spare;
  s.manager.max_spare = p.max_spare;
  s.manager.idle_timeout = std::chrono::seconds(p.process_idle_timeout);
  s.script_reloading = p.script_reloading;
  s.preload_fork = p.preload_fork;
  s.template_idle_timeout =
      std::chrono::seconds(p.template_idle_timeout >= 0 ? p.template_idle_timeout : p.process_idle_timeout);
  s.zygote = zygote_for(p, s);
  return true;
}

std::vector<std::string> PoolSpec::fingerprint() const {
  // What the pool itself fills in at start is not part of the identity.
  worker::WorkerOptions w = worker;
  w.supervisor_pid = 0;
  w.descriptor_limit = 0;
  w.listen_fd = kListenFd;
  w.log_bare = true;
  auto f = worker::worker_arguments(w);
  f.insert(f.end(), environment.begin(), environment.end());
  f.push_back(worker_executable);
  f.push_back(std::to_string(processes));
  f.push_back(std::to_string(restart_interval));
  f.push_back(preload_fork ? "preload-fork" : "");
  return f;
}

}  // namespace wsgi_fpm::supervisor
