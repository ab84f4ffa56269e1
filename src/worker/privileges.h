// The worker's first act: become the pool's user for good.
#pragma once

#include <string>

#include "worker/options.h"

namespace wsgi_fpm::worker {

// As root: setgroups, setgid, setuid to the pool's identity, then proves
// that root cannot be regained. As another user: checks that the pool asks
// for no other identity. Then arranges to die with the supervisor. False with
// `error`: the worker must exit before any Python runs.
bool become_pool_user(const WorkerOptions& options, std::string& error);

}  // namespace wsgi_fpm::worker
