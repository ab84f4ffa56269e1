#include "supervisor/process_manager.h"

#include <algorithm>

namespace wsgi_fpm::supervisor {

int free_threads(const PoolLimits& limits, const std::vector<ProcessView>& processes) {
  int free = 0;
  for (const auto& p : processes) {
    if (!p.ready) free += limits.threads;
    else free += std::max(0, limits.threads - static_cast<int>(p.busy_threads));
  }
  return free;
}

bool watches_socket(const ProcessManagerSettings& settings, const PoolLimits& limits, int live_processes) {
  return settings.mode != ProcessManagerMode::Static && live_processes < limits.processes;
}

bool spawn_for_waiting_connection(const ProcessManagerSettings& settings, const PoolLimits& limits,
                                  const std::vector<ProcessView>& processes) {
  return watches_socket(settings, limits, static_cast<int>(processes.size())) &&
         free_threads(limits, processes) == 0;
}

ManagerPlan plan_tick(const ProcessManagerSettings& settings, const PoolLimits& limits,
                      const std::vector<ProcessView>& processes) {
  ManagerPlan plan;
  auto wholly_idle = [](const ProcessView& p) { return p.ready && p.busy_threads == 0; };
  // A process whose GIL nobody could take for deadlock-timeout serves nothing
  // more; whatever the mode, it is replaced.
  if (limits.deadlock_timeout.count() > 0) {
    for (const auto& p : processes) {
      if (p.ready && p.gil_stalled >= limits.deadlock_timeout) plan.deadlocked.push_back(p.pid);
    }
  }
  auto planned = [&](long pid) {
    auto in = [pid](const std::vector<long>& pids) { return std::find(pids.begin(), pids.end(), pid) != pids.end(); };
    return in(plan.deadlocked) || in(plan.stop) || in(plan.over_memory);
  };

  switch (settings.mode) {
    case ProcessManagerMode::Static:
      break;  // the pool keeps every slot filled itself, with crash backoff
    case ProcessManagerMode::Ondemand:
      for (const auto& p : processes) {
        if (wholly_idle(p) && p.idle_for >= settings.idle_timeout && !planned(p.pid)) plan.stop.push_back(p.pid);
      }
      break;
    case ProcessManagerMode::Dynamic: {
      int spare = free_threads(limits, processes) / std::max(1, limits.threads);
      int room = limits.processes - static_cast<int>(processes.size());
      if (spare < settings.min_spare) {
        plan.spawn = std::max(0, std::min(settings.min_spare - spare, room));
      } else if (spare > settings.max_spare) {
        const ProcessView* longest = nullptr;
        for (const auto& p : processes) {
          if (wholly_idle(p) && !planned(p.pid) && (!longest || p.idle_for > longest->idle_for)) longest = &p;
        }
        if (longest) plan.stop.push_back(longest->pid);
      }
      break;
    }
  }

  // uWSGI's reload-on-rss: a process that grew past maximum-memory is
  // replaced by a fresh one, busy or not (it finishes its requests within
  // graceful-timeout). A process that never served is as small as a fresh
  // one: replacing it would start a successor just as big, once a second.
  if (limits.maximum_memory > 0) {
    for (const auto& p : processes) {
      if (p.ready && p.served_any && !p.replacing && p.rss_bytes > limits.maximum_memory && !planned(p.pid))
        plan.over_memory.push_back(p.pid);
    }
  }

  // mod_wsgi's inactivity-timeout: a process that served and then sat idle is
  // replaced by a fresh one, giving its memory back. A process that never
  // served is already as small as it gets.
  if (limits.inactivity_timeout.count() > 0) {
    for (const auto& p : processes) {
      if (wholly_idle(p) && p.served_any && !p.replacing && p.idle_for >= limits.inactivity_timeout &&
          !planned(p.pid))
        plan.replace_idle.push_back(p.pid);
    }
  }
  return plan;
}

}  // namespace wsgi_fpm::supervisor
