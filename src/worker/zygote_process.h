// The shared zygote's process (`--zygote`; the supervisor's side is
// supervisor/zygote.h): Python started as root, isolated and without site,
// no application imported, then fork requests served until the supervisor
// lets it go.
#pragma once

#include <string>
#include <vector>

#include "python/runtime.h"
#include "worker/contract.h"
#include "worker/options.h"

namespace wsgi_fpm::worker {

// Returns only in a worker forked from the zygote, still root, with
// `options` and `environment` its own, and Python's main thread state.
PyThreadState* become_zygote(int argc, char** argv, WorkerOptions& options, Contract& contract,
                             std::vector<std::string>& environment);

}  // namespace wsgi_fpm::worker
