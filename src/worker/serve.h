// The worker serving: the dispatcher on the listening socket (and the
// handoff socket), the request threads, the request-timeout monitor and the
// GIL heartbeat, the scoreboard and notify pipe through the Reporter; then,
// on a stop signal, the drain and Python's end.
#pragma once

#include <signal.h>

#include "python/runtime.h"
#include "worker/contract.h"
#include "worker/options.h"
#include "worker/router.h"

namespace wsgi_fpm::worker {

// Serves until a stop signal of `stop_signals` (blocked in every thread),
// then drains for graceful-timeout (eviction-timeout after SIGUSR2) and
// finalizes Python. Returns the worker's exit status.
int serve(const WorkerOptions& options, Contract& contract, Router& router, PyThreadState* main_state,
          const sigset_t& stop_signals);

}  // namespace wsgi_fpm::worker
