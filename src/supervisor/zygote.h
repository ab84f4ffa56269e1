// The shared zygote: a worker process (`wsgi-fpm-worker --zygote`) that has
// started Python (site included), as root, and imported no application, and
// that forks the workers of every pool whose Python would start the same way
// (pool_spec.cc, zygote_for). A forked worker drops privileges at once, then
// becomes its pool's (environment, python-path) and imports its apps: a cold
// tenant pays a fork instead of an exec and an interpreter start, as a
// PHP-FPM pool forks from its master.
//
// What every worker forked from one zygote shares, whichever tenant it
// serves: the hash secret of str and bytes (the zygote's randomisation; a
// tenant can read it in its own worker's memory, and with it make keys that
// collide in another tenant's dicts) and the address layout of the
// interpreter, its libraries and its first heap (ASLR is per exec). No data:
// the zygote has read nothing but the standard library's and the system
// site-packages' own files, so its memory holds nothing a tenant may not
// see. A pool that should not share
// these says `zygote: false` and is spawned as before; docs/design.md says
// more.
//
// Zygotes start on demand (the first worker that wants one is spawned
// meanwhile) and retire once no pool that used them has had a worker for the
// longest process-idle-timeout of those pools, so that an idle host holds
// none.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "supervisor/log_sink.h"
#include "supervisor/uv_handle.h"
#include "supervisor/worker_process.h"

namespace wsgi_fpm::supervisor {

class Zygotes {
 public:
  Zygotes(uv_loop_t* loop, std::shared_ptr<LogSink> log);
  ~Zygotes();
  Zygotes(const Zygotes&) = delete;
  Zygotes& operator=(const Zygotes&) = delete;

  // The ready zygote for `key` (PoolSpec::zygote), or nullptr: then one is
  // on its way, unless starting them keeps failing, and the caller spawns
  // its worker itself. `idle_timeout`: the asking pool's, see above.
  WorkerProcess* get(const std::string& key, std::chrono::seconds idle_timeout);
  // A pool with workers says so once a tick: its zygote stays while any
  // pool of it has workers, and for its idle time after the last is gone
  // (so that a tenant woken again soon is forked, as a template keeps a
  // preload-fork pool's).
  void keep(const std::string& key);
  // Stops every zygote (the supervisor stops); `done` once all are gone.
  void stop(std::function<void()> done);

 private:
  struct Entry {
    std::unique_ptr<WorkerProcess> process;
    std::chrono::steady_clock::time_point last_used;
    std::chrono::seconds idle_timeout{0};
    bool ready = false;
  };
  struct Failures {
    int count = 0;
    std::chrono::steady_clock::time_point retry_after;
  };
  void start(const std::string& key, std::chrono::seconds idle_timeout);
  void on_exit(WorkerProcess& z, int64_t status, int signal);
  void on_closed(WorkerProcess& z);
  void check_idle();
  void update_timer();
  void maybe_done();
  // A zygote holds four of our descriptors, and each worker forked from it
  // one more (a pidfd) than a spawned one: where they are short (a thousand
  // pools under a limit of 1024), pools spawn and a running zygote goes.
  // Looked at once a second at most.
  bool descriptors_short();

  uv_loop_t* loop_;
  std::shared_ptr<LogSink> log_;
  std::map<std::string, Entry> live_;        // by key
  std::map<std::string, Failures> failures_;  // by key: zygotes that died young
  std::list<std::unique_ptr<WorkerProcess>> exiting_;
  HandleCount handles_;  // the idle timer, until it is closed
  Timer idle_timer_;
  bool subreaper_ = false;
  bool subreaper_failed_ = false;
  bool stopping_ = false;
  std::function<void()> stopped_;
  std::chrono::steady_clock::time_point descriptors_checked_;
  bool descriptors_short_ = false;
};

}  // namespace wsgi_fpm::supervisor
