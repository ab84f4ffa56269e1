// `wsgi-fpm status` as text and as JSON (SPEC §7).
#pragma once

#include <string>
#include <vector>

#include "supervisor/pool.h"

namespace wsgi_fpm::supervisor {

std::string status_json(const std::vector<PoolStatus>& pools, long supervisor_pid, double uptime_seconds);
std::string status_text(const std::vector<PoolStatus>& pools, long supervisor_pid, double uptime_seconds);

}  // namespace wsgi_fpm::supervisor
