#include "worker/privileges.h"

#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wsgi_fpm::worker {
namespace {

bool fail(std::string& error, const std::string& what) {
  error = what + ": " + std::strerror(errno);
  return false;
}

}  // namespace

bool become_pool_user(const WorkerOptions& o, std::string& error, bool die_with_supervisor) {
  if (geteuid() == 0) {
    if (!o.uid || !o.gid) {
      error = "started as root without --uid and --gid: refusing to run the application as root";
      return false;
    }
    // Groups first: after setuid there is no permission left to change them.
    if (setgroups(o.groups.size(), o.groups.data()) != 0) return fail(error, "setgroups");
    if (setresgid(*o.gid, *o.gid, *o.gid) != 0) return fail(error, "setresgid");
    if (setresuid(*o.uid, *o.uid, *o.uid) != 0) return fail(error, "setresuid");
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) != 0 || r != *o.uid || e != *o.uid || s != *o.uid ||
        getresgid(&rg, &eg, &sg) != 0 || rg != *o.gid || eg != *o.gid || sg != *o.gid) {
      error = "the user and group did not change as asked";
      return false;
    }
    if (*o.uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
      error = "root could be regained after dropping privileges";
      return false;
    }
  } else if (o.uid && *o.uid != geteuid()) {
    error = "not running as root, so cannot switch to uid " + std::to_string(*o.uid);
    return false;
  }
  // Changing credentials clears the parent-death signal, so it is set after.
  return !die_with_supervisor || arrange_to_die_with_supervisor(o.supervisor_pid, error);
}

bool arrange_to_die_with_supervisor(pid_t supervisor_pid, std::string& error) {
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return fail(error, "prctl(PR_SET_PDEATHSIG)");
  if (supervisor_pid && getppid() != supervisor_pid) {
    error = "the supervisor exited while this worker started";
    return false;
  }
  return true;
}

}  // namespace wsgi_fpm::worker
