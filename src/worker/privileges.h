// The worker's first act: become the pool's user for good.
#pragma once

#include <sys/types.h>

#include <string>

#include "worker/options.h"

namespace wsgi_fpm::worker {

// As root: setgroups, setgid, setuid to the pool's identity, then proves
// that root cannot be regained. As another user: checks that the pool asks
// for no other identity. Then arranges to die with the supervisor, unless
// told not to (a forked worker whose parent is still the middle process:
// worker/fork_template.h). False with `error`: the worker must exit before
// any Python runs.
bool become_pool_user(const WorkerOptions& options, std::string& error, bool die_with_supervisor = true);

// PR_SET_PDEATHSIG (SIGTERM), then checks that the supervisor is the parent
// (it may have died before the signal was armed).
bool arrange_to_die_with_supervisor(pid_t supervisor_pid, std::string& error);

}  // namespace wsgi_fpm::worker
