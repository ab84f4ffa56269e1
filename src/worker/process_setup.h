// The worker's first steps, before any application code: signals, the
// locale, its name in ps, the pool's identity (resource limits, user, umask,
// home) and Python itself. Each step logs what went wrong and returns the
// worker's exit status for it (wsgi_fpm/worker_exit.h), 0 when it went well.
#pragma once

#include <signal.h>

#include <functional>
#include <string>
#include <vector>

#include "python/runtime.h"
#include "worker/options.h"

namespace wsgi_fpm::worker {

// SIGTERM and the like: stop, requests get graceful-timeout. SIGUSR2 (the
// supervisor evicting us): the same with eviction-timeout. SIGUSR1 (anyone,
// as to a mod_wsgi daemon process): ask the supervisor for a graceful
// restart. Blocked before any thread exists, so that only sigtimedwait sees
// them; SIGPIPE is ignored.
sigset_t block_stop_signals();
// lang/locale arrive as LANG and LC_ALL; take them before Python starts
// (isolated, it would keep the "C" locale and an ASCII encoding), as
// mod_wsgi's locale option does with setlocale(LC_ALL, ...).
void take_locale();
// The worker's options from its command line (options.h).
int read_command_line(int argc, char** argv, WorkerOptions& options);
// Names the process in ps (display-name) and returns the name; "" for the
// default. `forked`: forked by the zygote, whose title must not stay.
std::string name_process(int argc, char** argv, const WorkerOptions& options, bool forked);
// Resource limits, the pool's user and groups (privileges.h), umask and
// home directory: after this no root is left.
int enter_pool_identity(const WorkerOptions& options);
// Starts Python for the pool (or, forked by the zygote, settles the one
// running into the pool's settings and `environment`); `main_state` in,
// non-null when forked, and out.
int start_python(const WorkerOptions& options, const std::vector<std::string>& environment,
                 PyThreadState*& main_state);
// Runs `body` on a new thread with `stack_size` bytes of stack (0: the
// default); std::thread cannot set one, and stack-size asks for one.
pthread_t start_thread(std::uint64_t stack_size, std::function<void()> body);

}  // namespace wsgi_fpm::worker
