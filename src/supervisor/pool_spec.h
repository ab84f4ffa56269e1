// From a validated config::Pool to what the supervisor runs: the socket to
// bind and the worker command line and environment.
#pragma once

#include <string>

#include "config/schema.h"
#include "supervisor/pool.h"

namespace wsgi_fpm::supervisor {

// False with `error` (e.g. the user vanished since the config was checked).
bool make_pool_spec(const config::Pool& pool, PoolSpec& out, std::string& error);

}  // namespace wsgi_fpm::supervisor
