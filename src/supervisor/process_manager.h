// How many processes a pool runs, decided from what its processes report
// (PHP-FPM's pm, plus mod_wsgi's inactivity-timeout and deadlock-timeout and
// uWSGI's reload-on-rss as maximum-memory).
// Pure: the pool gives it a snapshot and carries out the plan, so every rule
// here is unit-tested without a process or a clock.
//
//  static    `processes` run all the time (mod_wsgi's daemon mode).
//  ondemand  none until a connection waits with no thread free to take it;
//            then one more at a time, up to `processes`; a process idle for
//            process-idle-timeout is stopped.
//  dynamic   keeps between min-spare and max-spare spare processes, up to
//            `processes`: a process's worth of idle threads is one spare
//            (threads are what serve a request here, not processes as in
//            PHP-FPM), a starting process counts as spare, and above
//            max-spare one wholly idle process stops per tick, as PHP-FPM
//            stops one a second.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "config/process_manager_mode.h"

namespace wsgi_fpm::supervisor {

struct ProcessManagerSettings {
  ProcessManagerMode mode = ProcessManagerMode::Static;
  int min_spare = 1;
  int max_spare = 1;
  std::chrono::seconds idle_timeout{10};  // process-idle-timeout (ondemand)

  friend bool operator==(const ProcessManagerSettings&, const ProcessManagerSettings&) = default;
};

struct PoolLimits {
  int processes = 1;  // at most this many (all of them, for static)
  int threads = 1;    // per process
  std::chrono::seconds inactivity_timeout{0};  // 0: off
  std::chrono::seconds deadlock_timeout{0};    // 0: off
  std::uint64_t maximum_memory = 0;            // bytes of RSS; 0: off
};

// One process of the pool as the last look at its scoreboard found it.
struct ProcessView {
  long pid = 0;
  bool ready = false;      // false: still starting (counts as spare capacity)
  unsigned busy_threads = 0;
  bool served_any = false;  // has finished at least one request
  std::chrono::steady_clock::duration idle_for{};    // since its last request ended (0 while busy)
  std::chrono::steady_clock::duration gil_stalled{};  // since a thread last took its GIL
  std::uint64_t rss_bytes = 0;  // resident set (read only while maximum-memory is set)
  bool replacing = false;       // its successor is already on its way
};

struct ManagerPlan {
  int spawn = 0;                   // start this many new processes
  std::vector<long> stop;          // stop these (idle: nothing to drain)
  std::vector<long> replace_idle;  // inactivity-timeout: replace gracefully
  std::vector<long> over_memory;   // maximum-memory: replace gracefully
  std::vector<long> deadlocked;    // deadlock-timeout: replace, stop at once
};

// The periodic (once a second) decision. `processes` are the pool's live
// processes, starting and ready, not those already stopping.
ManagerPlan plan_tick(const ProcessManagerSettings& settings, const PoolLimits& limits,
                      const std::vector<ProcessView>& processes);

// A connection waits on the socket: start one more process now? Yes when no
// thread is free to take it (none idle, none starting) and the pool may grow.
bool spawn_for_waiting_connection(const ProcessManagerSettings& settings, const PoolLimits& limits,
                                  const std::vector<ProcessView>& processes);

// Whether the pool should watch its socket for waiting connections at all.
bool watches_socket(const ProcessManagerSettings& settings, const PoolLimits& limits, int live_processes);

// Idle threads of ready processes plus every thread of starting ones.
int free_threads(const PoolLimits& limits, const std::vector<ProcessView>& processes);

}  // namespace wsgi_fpm::supervisor
