// Where the worker executable is, and the environment a worker starts with:
// cleared down to what the pool configures (SPEC §6).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/users.h"

namespace wsgi_fpm::supervisor {

// WSGI_FPM_WORKER if set, else wsgi-fpm-worker beside this executable (a
// build tree), else the installed path.
std::string find_worker_executable();

std::vector<std::string> worker_environment(const Account& user, const std::string& lang,
                                            const std::string& locale,
                                            const std::map<std::string, std::string>& extra);

}  // namespace wsgi_fpm::supervisor
