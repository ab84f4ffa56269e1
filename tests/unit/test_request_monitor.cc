// The request-timeout monitor without Python: request threads are plain
// threads that record their requests on a scoreboard as a worker's do, and
// the actions (stack, interrupt, retire) are recorded. Run under
// ThreadSanitizer by scripts/sanitize while four threads start and finish
// requests.
#include "worker/request_monitor.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/log.h"
#include "wsgi_fpm/scoreboard.h"

namespace {

using wsgi_fpm::Scoreboard;
using wsgi_fpm::ThreadSlot;
using wsgi_fpm::worker::RequestMonitor;
using namespace std::chrono_literals;

// A worker's scoreboard and its monitor, with the request thread's two
// steps (Reporter's and main.cc's) as one call.
struct Watched {
  std::unique_ptr<Scoreboard> board = std::make_unique<Scoreboard>();
  RequestMonitor monitor;
  Watched(int threads, int request_timeout, int interrupt_timeout, RequestMonitor::Actions actions)
      : monitor(*board, threads, request_timeout, interrupt_timeout, std::move(actions)) {
    for (int slot = 0; slot < threads; ++slot) monitor.attach(slot, 1000u + static_cast<unsigned>(slot));
  }
  void started(int slot, const char* method, const std::string& uri) {
    board->request_started(static_cast<std::size_t>(slot), method, uri);
    if (monitor.enabled()) monitor.request_started();
  }
  void finished(int slot) { board->request_finished(static_cast<std::size_t>(slot), 1); }
};

// Everything the monitor did, and the log it wrote (to a temporary file).
struct Recorder {
  std::mutex mutex;
  std::vector<int> stacks;                  // slots whose stack was asked for
  std::vector<int> interrupts;              // slots interrupted
  std::vector<std::string> retirements;     // reasons
  std::atomic<bool> interrupt_succeeds{false};
  std::FILE* log_file = std::tmpfile();

  Recorder() { wsgi_fpm::log::set_fd(fileno(log_file)); }
  ~Recorder() {
    wsgi_fpm::log::set_fd(2);
    std::fclose(log_file);
  }

  RequestMonitor::Actions actions() {
    return {[this](int slot) {
              std::lock_guard lock(mutex);
              stacks.push_back(slot);
              return std::string("  File \"app.py\", line 1, in application\n");
            },
            [this](int slot, unsigned long) {
              std::lock_guard lock(mutex);
              interrupts.push_back(slot);
              return interrupt_succeeds.load();
            },
            [this](const std::string& reason) {
              std::lock_guard lock(mutex);
              retirements.push_back(reason);
            }};
  }

  std::string log() {
    std::fflush(log_file);
    std::string text;
    char buffer[4096];
    ssize_t n;
    off_t at = 0;
    while ((n = pread(fileno(log_file), buffer, sizeof buffer, at)) > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
      at += n;
    }
    return text;
  }
  std::size_t retired() {
    std::lock_guard lock(mutex);
    return retirements.size();
  }
  std::size_t stacked() {
    std::lock_guard lock(mutex);
    return stacks.size();
  }
};

// Runs the monitor on its own thread for the lifetime of the object.
struct MonitorThread {
  RequestMonitor& monitor;
  std::thread thread;
  explicit MonitorThread(RequestMonitor& m) : monitor(m), thread([&m] { m.run(); }) {}
  ~MonitorThread() {
    monitor.stop();
    thread.join();
  }
};

template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

}  // namespace

TEST_CASE("request-timeout 0 disables the monitor: run() returns at once and requests are not watched") {
  Recorder recorder;
  Watched watched(4, 0, 0, recorder.actions());
  RequestMonitor& monitor = watched.monitor;
  CHECK_FALSE(monitor.enabled());
  watched.started(0, "GET", "/");
  monitor.run();  // would block if it watched anything
  watched.finished(0);
  CHECK(recorder.stacked() == 0);
}

TEST_CASE("a request past request-timeout is logged with its URL and stack, then the process retires once") {
  Recorder recorder;
  // One thread: the timeout is request-timeout × (1 + ln 1) = 1 s.
  Watched watched(1, 1, 0, recorder.actions());
  RequestMonitor& monitor = watched.monitor;
  MonitorThread running(monitor);
  std::this_thread::sleep_for(50ms);  // the monitor is asleep, waiting for a request
  watched.started(0, "POST", "/slow?x=1");
  REQUIRE(eventually([&] { return recorder.retired() == 1; }));
  watched.finished(0);
  std::this_thread::sleep_for(1200ms);  // nothing more for the same request
  CHECK(recorder.retired() == 1);
  CHECK(recorder.retirements.at(0) == "request-timeout");
  CHECK(recorder.stacks == std::vector<int>{0});
  CHECK(recorder.interrupts.empty());  // no interrupt-timeout: no RequestTimeout
  std::string log = recorder.log();
  CHECK(log.find("POST /slow?x=1: running 1.") != std::string::npos);
  CHECK(log.find("past request-timeout (1.0 s with 1 threads)") != std::string::npos);
  CHECK(log.find("File \"app.py\", line 1, in application") != std::string::npos);
}

TEST_CASE("with interrupt-timeout, RequestTimeout ends the request and the process lives on") {
  Recorder recorder;
  recorder.interrupt_succeeds = true;
  Watched watched(1, 1, 1, recorder.actions());
  RequestMonitor& monitor = watched.monitor;
  MonitorThread running(monitor);
  watched.started(0, "GET", "/stuck");
  REQUIRE(eventually([&] {
    std::lock_guard lock(recorder.mutex);
    return !recorder.interrupts.empty();
  }));
  watched.finished(0);  // the exception ended it
  // The next request on the thread is judged on its own: reported and
  // interrupted again, and the first one's interruption is not held against it.
  watched.started(0, "GET", "/stuck-again");
  REQUIRE(eventually([&] {
    std::lock_guard lock(recorder.mutex);
    return recorder.interrupts.size() == 2;
  }));
  watched.finished(0);
  std::this_thread::sleep_for(1500ms);  // past interrupt-timeout
  CHECK(recorder.retired() == 0);
  CHECK(recorder.stacked() == 2);
  std::string log = recorder.log();
  CHECK(log.find("GET /stuck: RequestTimeout raised in its thread") != std::string::npos);
  CHECK(log.find("GET /stuck-again: RequestTimeout raised in its thread") != std::string::npos);
}

TEST_CASE("a request still running interrupt-timeout after RequestTimeout retires the process") {
  Recorder recorder;
  recorder.interrupt_succeeds = true;
  Watched watched(1, 1, 1, recorder.actions());
  RequestMonitor& monitor = watched.monitor;
  MonitorThread running(monitor);
  watched.started(0, "GET", "/in-c-code");
  REQUIRE(eventually([&] { return recorder.retired() == 1; }));
  watched.finished(0);
  CHECK(recorder.log().find("GET /in-c-code: still running interrupt-timeout after RequestTimeout") !=
        std::string::npos);
}

TEST_CASE("the timeout belongs to one request: a slot that keeps serving short requests never times out") {
  Recorder recorder;
  Watched watched(1, 1, 0, recorder.actions());
  RequestMonitor& monitor = watched.monitor;
  MonitorThread running(monitor);
  auto until = std::chrono::steady_clock::now() + 2500ms;
  while (std::chrono::steady_clock::now() < until) {
    watched.started(0, "GET", "/quick");
    std::this_thread::sleep_for(5ms);
    watched.finished(0);
  }
  CHECK(recorder.stacked() == 0);
  CHECK(recorder.retired() == 0);
}

TEST_CASE("a long URL is cut at the label's size") {
  Recorder recorder;
  Watched watched(1, 1, 0, recorder.actions());
  RequestMonitor& monitor = watched.monitor;
  MonitorThread running(monitor);
  std::string uri = "/" + std::string(1000, 'a');
  watched.started(0, "GET", uri);
  REQUIRE(eventually([&] { return recorder.retired() == 1; }));
  watched.finished(0);
  std::string label = "GET " + uri.substr(0, ThreadSlot::kLabelBytes - 4);
  std::string log = recorder.log();
  CHECK(log.find(label + ": running") != std::string::npos);
}

TEST_CASE("four threads serving requests while one is stuck: only the stuck one is reported") {
  Recorder recorder;
  // Four threads: the timeout is 1 s × (1 + ln 4) ≈ 2.4 s.
  Watched watched(4, 1, 0, recorder.actions());
  RequestMonitor& monitor = watched.monitor;
  MonitorThread running(monitor);
  std::atomic<bool> done{false};
  std::vector<std::thread> servers;
  for (int slot = 1; slot < 4; ++slot) {
    servers.emplace_back([&, slot] {
      std::string uri = "/quick/" + std::to_string(slot);
      while (!done) {
        watched.started(slot, "GET", uri);
        watched.finished(slot);
      }
    });
  }
  watched.started(0, "GET", "/stuck-among-others");
  bool retired = eventually([&] { return recorder.retired() == 1; });
  done = true;
  for (auto& t : servers) t.join();
  watched.finished(0);
  REQUIRE(retired);
  CHECK(recorder.stacks == std::vector<int>{0});
  std::string log = recorder.log();
  CHECK(log.find("GET /stuck-among-others: running") != std::string::npos);
  CHECK(log.find("/quick/") == std::string::npos);
}
