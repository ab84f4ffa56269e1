// The process manager's rules (src/supervisor/process_manager.h), each as the
// pool would meet it: a snapshot of its processes in, a plan out.
#include <doctest/doctest.h>

#include "supervisor/process_manager.h"

using namespace wsgi_fpm::supervisor;
using wsgi_fpm::ProcessManagerMode;
using std::chrono::seconds;

namespace {

ProcessView ready(long pid, unsigned busy = 0, int idle_seconds = 0, bool served = true) {
  ProcessView v;
  v.pid = pid;
  v.ready = true;
  v.busy_threads = busy;
  v.served_any = served;
  v.idle_for = seconds(busy ? 0 : idle_seconds);
  return v;
}

ProcessView starting(long pid) {
  ProcessView v;
  v.pid = pid;
  return v;
}

ProcessManagerSettings mode(ProcessManagerMode m, int min_spare = 1, int max_spare = 1, int idle = 10) {
  ProcessManagerSettings s;
  s.mode = m;
  s.min_spare = min_spare;
  s.max_spare = max_spare;
  s.idle_timeout = seconds(idle);
  return s;
}

PoolLimits pool(int processes, int threads) {
  PoolLimits l;
  l.processes = processes;
  l.threads = threads;
  return l;
}

}  // namespace

TEST_CASE("static: the pool fills its slots itself; the manager never starts or stops one") {
  auto plan = plan_tick(mode(ProcessManagerMode::Static), pool(4, 2), {ready(1, 0, 3600)});
  CHECK(plan.spawn == 0);
  CHECK(plan.stop.empty());
  CHECK_FALSE(watches_socket(mode(ProcessManagerMode::Static), pool(4, 2), 0));
}

TEST_CASE("ondemand: nothing runs until a connection waits with no thread free") {
  auto od = mode(ProcessManagerMode::Ondemand);
  CHECK(watches_socket(od, pool(2, 4), 0));
  CHECK(spawn_for_waiting_connection(od, pool(2, 4), {}));
  CHECK(plan_tick(od, pool(2, 4), {}).spawn == 0);  // no start without demand
}

TEST_CASE("ondemand: a starting process or an idle thread takes the next connection") {
  auto od = mode(ProcessManagerMode::Ondemand);
  CHECK_FALSE(spawn_for_waiting_connection(od, pool(2, 4), {starting(7)}));
  CHECK_FALSE(spawn_for_waiting_connection(od, pool(2, 4), {ready(7, 3)}));
  CHECK(spawn_for_waiting_connection(od, pool(2, 4), {ready(7, 4)}));
}

TEST_CASE("ondemand: never more than `processes`, and no watching once there") {
  auto od = mode(ProcessManagerMode::Ondemand);
  CHECK_FALSE(spawn_for_waiting_connection(od, pool(2, 1), {ready(7, 1), ready(8, 1)}));
  CHECK_FALSE(watches_socket(od, pool(2, 1), 2));
  CHECK(watches_socket(od, pool(2, 1), 1));
}

TEST_CASE("ondemand: a process idle for process-idle-timeout stops; a busy or younger one stays") {
  auto od = mode(ProcessManagerMode::Ondemand, 1, 1, 10);
  auto plan = plan_tick(od, pool(3, 2), {ready(1, 0, 10), ready(2, 0, 9), ready(3, 1), starting(4)});
  REQUIRE(plan.stop.size() == 1);
  CHECK(plan.stop[0] == 1);
  CHECK(plan.spawn == 0);
}

TEST_CASE("dynamic: too few spare processes starts the difference, within `processes`") {
  auto dy = mode(ProcessManagerMode::Dynamic, 2, 3);
  CHECK(plan_tick(dy, pool(8, 4), {}).spawn == 2);
  // One process with 3 of 4 threads busy: one idle thread is no spare process.
  CHECK(plan_tick(dy, pool(8, 4), {ready(1, 3)}).spawn == 2);
  CHECK(plan_tick(dy, pool(8, 4), {ready(1, 0)}).spawn == 1);
  // A starting process counts as spare: no double start.
  CHECK(plan_tick(dy, pool(8, 4), {ready(1, 4), starting(2), starting(3)}).spawn == 0);
  // Room for one more only.
  CHECK(plan_tick(dy, pool(2, 4), {ready(1, 4)}).spawn == 1);
  CHECK(plan_tick(dy, pool(1, 4), {ready(1, 4)}).spawn == 0);
}

TEST_CASE("dynamic: spare capacity counts idle threads across processes") {
  auto dy = mode(ProcessManagerMode::Dynamic, 1, 1);
  // Two processes with 2 of 4 threads idle each: 4 idle threads, one spare.
  auto plan = plan_tick(dy, pool(4, 4), {ready(1, 2), ready(2, 2)});
  CHECK(plan.spawn == 0);
  CHECK(plan.stop.empty());
}

TEST_CASE("dynamic: above max-spare, the process idle longest stops, one a tick") {
  auto dy = mode(ProcessManagerMode::Dynamic, 1, 2);
  auto plan = plan_tick(dy, pool(8, 1), {ready(1, 0, 5), ready(2, 0, 50), ready(3, 0, 1), ready(4, 1)});
  REQUIRE(plan.stop.size() == 1);
  CHECK(plan.stop[0] == 2);
  // At max-spare exactly: nothing stops.
  CHECK(plan_tick(dy, pool(8, 1), {ready(1, 0, 5), ready(2, 0, 50), ready(4, 1)}).stop.empty());
}

TEST_CASE("dynamic: a partly busy process is never stopped for being spare") {
  auto dy = mode(ProcessManagerMode::Dynamic, 0, 1);
  // 3 idle threads of 4 in each: 6 idle threads, one spare above max... but
  // neither process is wholly idle, so none can go without cutting a request.
  auto plan = plan_tick(dy, pool(4, 4), {ready(1, 1), ready(2, 1), ready(3, 2)});
  CHECK(plan.stop.empty());
}

TEST_CASE("dynamic with min-spare 0 still starts a process for a waiting connection") {
  auto dy = mode(ProcessManagerMode::Dynamic, 0, 1);
  CHECK(plan_tick(dy, pool(2, 2), {}).spawn == 0);
  CHECK(spawn_for_waiting_connection(dy, pool(2, 2), {}));
}

TEST_CASE("inactivity-timeout: a process that served, then sat idle, is replaced") {
  auto limits = pool(2, 2);
  limits.inactivity_timeout = seconds(30);
  auto st = mode(ProcessManagerMode::Static);
  auto plan = plan_tick(st, limits, {ready(1, 0, 30), ready(2, 0, 29), ready(3, 0, 100, /*served=*/false),
                                      ready(4, 2)});
  REQUIRE(plan.replace_idle.size() == 1);
  CHECK(plan.replace_idle[0] == 1);
}

TEST_CASE("inactivity-timeout: an ondemand process that is stopped anyway is not also replaced") {
  auto limits = pool(2, 2);
  limits.inactivity_timeout = seconds(5);
  auto plan = plan_tick(mode(ProcessManagerMode::Ondemand, 1, 1, 5), limits, {ready(1, 0, 6)});
  CHECK(plan.stop.size() == 1);
  CHECK(plan.replace_idle.empty());
}

TEST_CASE("deadlock-timeout: a ready process whose GIL stayed taken is replaced, whatever the mode") {
  auto limits = pool(2, 2);
  limits.deadlock_timeout = seconds(60);
  auto stuck = ready(1, 1);
  stuck.gil_stalled = seconds(61);
  auto fine = ready(2, 1);
  fine.gil_stalled = seconds(1);
  auto young = starting(3);
  young.gil_stalled = seconds(100);  // still importing: startup-timeout's business
  for (auto m : {ProcessManagerMode::Static, ProcessManagerMode::Ondemand, ProcessManagerMode::Dynamic}) {
    auto plan = plan_tick(mode(m), limits, {stuck, fine, young});
    REQUIRE(plan.deadlocked.size() == 1);
    CHECK(plan.deadlocked[0] == 1);
  }
  limits.deadlock_timeout = seconds(0);
  CHECK(plan_tick(mode(ProcessManagerMode::Static), limits, {stuck}).deadlocked.empty());
}

TEST_CASE("free_threads: idle threads of ready processes, all threads of starting ones") {
  CHECK(free_threads(pool(4, 5), {ready(1, 2), starting(2), ready(3, 5)}) == 8);
  CHECK(free_threads(pool(4, 5), {}) == 0);
}

namespace {
ProcessView holding(long pid, std::uint64_t rss_mb, bool served = true, unsigned busy = 0) {
  auto v = ready(pid, busy, 0, served);
  v.rss_bytes = rss_mb << 20;
  return v;
}
}  // namespace

TEST_CASE("maximum-memory: a process whose RSS passed it is replaced, busy or idle") {
  auto limits = pool(4, 2);
  limits.maximum_memory = 100ull << 20;
  auto plan = plan_tick(mode(ProcessManagerMode::Static), limits,
                        {holding(1, 101), holding(2, 100), holding(3, 150, true, /*busy=*/2), holding(4, 20)});
  CHECK(plan.over_memory == std::vector<long>{1, 3});
  CHECK(plan.replace_idle.empty());
  CHECK(plan.stop.empty());

  limits.maximum_memory = 0;  // off
  CHECK(plan_tick(mode(ProcessManagerMode::Static), limits, {holding(1, 4000)}).over_memory.empty());
}

TEST_CASE("maximum-memory: a process that never served is left alone, however big") {
  // Its successor would start just as big: replacing it would only loop.
  auto limits = pool(2, 2);
  limits.maximum_memory = 50ull << 20;
  auto fresh = holding(1, 80, /*served=*/false);
  auto young = starting(2);
  young.rss_bytes = 80ull << 20;
  CHECK(plan_tick(mode(ProcessManagerMode::Static), limits, {fresh, young}).over_memory.empty());
}

TEST_CASE("maximum-memory: a process already being replaced is not replaced again") {
  auto limits = pool(2, 2);
  limits.maximum_memory = 50ull << 20;
  auto big = holding(1, 80);
  big.replacing = true;
  CHECK(plan_tick(mode(ProcessManagerMode::Static), limits, {big}).over_memory.empty());
}

TEST_CASE("maximum-memory: one plan per process; deadlock-timeout and stops come first, inactivity after") {
  auto limits = pool(3, 2);
  limits.maximum_memory = 50ull << 20;
  limits.inactivity_timeout = seconds(5);
  limits.deadlock_timeout = seconds(60);
  auto stuck = holding(1, 80, true, 1);
  stuck.gil_stalled = seconds(61);
  auto idle_and_big = holding(2, 80);
  idle_and_big.idle_for = seconds(6);
  auto plan = plan_tick(mode(ProcessManagerMode::Static), limits, {stuck, idle_and_big});
  CHECK(plan.deadlocked == std::vector<long>{1});
  CHECK(plan.over_memory == std::vector<long>{2});
  CHECK(plan.replace_idle.empty());

  // ondemand stops an idle process anyway, which gives its memory back too.
  auto od = plan_tick(mode(ProcessManagerMode::Ondemand, 1, 1, 5), limits, {idle_and_big});
  CHECK(od.stop == std::vector<long>{2});
  CHECK(od.over_memory.empty());
}

TEST_CASE("inactivity-timeout: a process already being replaced is not replaced again") {
  auto limits = pool(2, 2);
  limits.inactivity_timeout = seconds(5);
  auto idle = ready(1, 0, 6);
  idle.replacing = true;
  CHECK(plan_tick(mode(ProcessManagerMode::Static), limits, {idle}).replace_idle.empty());
}
