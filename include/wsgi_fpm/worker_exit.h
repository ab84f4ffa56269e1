// How a worker process ends, as its exit status: the supervisor's log says
// which (pool.cc, zygote.cc), and wsgi-fpm(8), WORKER EXIT STATUS, lists
// them. A worker killed by a signal has none of these.
#pragma once

namespace wsgi_fpm::worker_exit {

// Numbers from sysexits.h, which apps rarely exit with themselves (an app
// that calls os._exit(3) must not read as one of ours in the log).
constexpr int kStopped = 0;          // stopped as asked, every request finished
constexpr int kBadCommandLine = 64;  // EX_USAGE: its command line (the supervisor's, or a hand-made one) is wrong
constexpr int kInternalError = 70;   // EX_SOFTWARE: a thread, signalfd or poll failed
constexpr int kDrainTimedOut = 75;   // EX_TEMPFAIL: requests still running at graceful- or eviction-timeout
constexpr int kCannotSetUp = 77;     // EX_NOPERM: could not become the pool's user, set limits, enter home, be adopted
constexpr int kPythonFailed = 78;    // EX_CONFIG: Python could not start (python-home, python-path)

// What an exit status means, for the log ("" for one of none of the above).
constexpr const char* describe(long status) {
  switch (status) {
    case kStopped: return "stopped";
    case kDrainTimedOut: return "requests still running at the end of the drain time";
    case kBadCommandLine: return "bad command line";
    case kCannotSetUp: return "could not set up (user, limits, home directory)";
    case kPythonFailed: return "Python could not start";
    case kInternalError: return "internal error";
    default: return "";
  }
}

}  // namespace wsgi_fpm::worker_exit
