// preload-fork: a pool's template process. It has dropped privileges and
// imported the pool's %{GLOBAL} apps like any worker, then, instead of
// serving, forks a worker each time the supervisor asks. The workers share
// the imported modules' memory copy-on-write (uWSGI's default, gunicorn's
// --preload) and start without importing anything.
//
// Each worker is forked twice over so that it becomes the supervisor's child
// (the supervisor is a child subreaper), not the template's: a template that
// dies or is replaced takes no worker with it, and the supervisor reaps and
// signals its workers as it does spawned ones.
#pragma once

#include <Python.h>
#include <sys/types.h>

#include <functional>
#include <optional>

#include "worker/contract.h"
#include "wsgi_fpm/fork_request.h"

namespace wsgi_fpm::worker {

// Serves fork requests on the contract's kForkCommandFd. Returns only in a
// new worker, with its stdout, stderr, scoreboard, notify and handoff
// descriptors in place (in `contract`, where the template kept its own) and
// Python reinitialised for the fork; the template itself exits here when the
// supervisor closes the socket or signals it. Call with no thread but this
// one, without the GIL; `main_state` is the main interpreter's thread state.
//
// The new worker carries none of the template's own descriptors (the fork
// request socket, its signalfd, the descriptors received); it does carry what
// the preloaded apps opened at import, which are theirs: the template itself
// inherited nothing beyond the contract (contract.h).
//
// Keeps a spare worker forked ahead of the next request (fork_template.cc,
// Spare), which calls `on_parked` (to retitle itself) before it waits.
//
// As the shared zygote (`zygote` given): each request also carries the new
// worker's listening socket, which takes kListenFd's place, and its command
// line and environment, which come back in `*zygote`; the new worker is
// still root and must drop privileges before it runs any Python.
void serve_fork_requests(pid_t supervisor_pid, PyThreadState* main_state, Contract& contract,
                         const std::function<void()>& on_parked, std::optional<CommandLine>* zygote = nullptr);

// In a worker forked by serve_fork_requests: waits until the middle process
// is gone and the supervisor has adopted this one, then arranges to die with
// the supervisor as a spawned worker does; exits if the supervisor is not its
// parent. Called once the worker has set itself up, before it serves: the
// middle's exit (a few ms of unmapping the template's memory) then overlaps
// with that set-up instead of coming before it. Does nothing in a worker
// that was not forked.
void finish_adoption();
bool adoption_pending();  // forked, and finish_adoption not yet called

}  // namespace wsgi_fpm::worker
