// From a validated config::Pool to what the supervisor runs: the socket to
// bind and the worker command line and environment.
#pragma once

#include <string>

#include "config/schema.h"
#include "config/user_db.h"
#include "supervisor/pool.h"

namespace wsgi_fpm::supervisor {

// False with `error` (e.g. the user vanished since the config was checked).
// `users` is the database the config was loaded with: one view of it per load.
bool make_pool_spec(const config::Pool& pool, const config::UserDb& users, PoolSpec& out, std::string& error);

}  // namespace wsgi_fpm::supervisor
