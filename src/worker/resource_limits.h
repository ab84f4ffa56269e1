// Resource limits of a worker (mod_wsgi's memory-limit, virtual-memory-limit,
// cpu-time-limit, cpu-priority), applied while still root so a negative
// cpu-priority is possible, and before any Python runs.
#pragma once

#include <string>

#include "worker/options.h"

namespace wsgi_fpm::worker {

bool apply_resource_limits(const WorkerOptions& options, std::string& error);

}  // namespace wsgi_fpm::worker
