// The contract between supervisor and worker in include/wsgi_fpm/ that is
// neither the command line (test_worker_options.cc) nor fork requests
// (test_fork_request.cc): notify messages, exit statuses and the
// scoreboard (read while written, under ThreadSanitizer in scripts/sanitize).
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "wsgi_fpm/descriptors.h"
#include "wsgi_fpm/notify.h"
#include "wsgi_fpm/scoreboard.h"
#include "wsgi_fpm/worker_exit.h"

using wsgi_fpm::NotifyMessage;

TEST_CASE("every notify message reads back as it was written") {
  for (NotifyMessage m : {NotifyMessage{NotifyMessage::Kind::Ready, {}},
                          NotifyMessage{NotifyMessage::Kind::Retire, "maximum-requests"},
                          NotifyMessage{NotifyMessage::Kind::Evict, "SIGUSR1"},
                          NotifyMessage{NotifyMessage::Kind::Retire, "lost its listening socket"}}) {
    std::string line = m.encode();
    REQUIRE(line.ends_with("\n"));
    line.pop_back();
    auto back = NotifyMessage::parse(line);
    REQUIRE(back);
    CHECK(back->kind == m.kind);
    CHECK(back->reason == m.reason);
  }
}

TEST_CASE("a notify line that is none of ours is ignored, a bare verb has a reason") {
  CHECK_FALSE(NotifyMessage::parse(""));
  CHECK_FALSE(NotifyMessage::parse("ready now"));
  CHECK_FALSE(NotifyMessage::parse("retired"));
  CHECK_FALSE(NotifyMessage::parse("evicting x"));
  CHECK(NotifyMessage::parse("retire")->reason == "requested");
  CHECK(NotifyMessage::parse("evict ")->reason == "requested");
  CHECK(NotifyMessage::parse("evict")->kind == NotifyMessage::Kind::Evict);
}

TEST_CASE("the worker's exit statuses are distinct, described, and not the small numbers apps use") {
  namespace e = wsgi_fpm::worker_exit;
  std::set<int> seen;
  for (int status : {e::kStopped, e::kBadCommandLine, e::kInternalError, e::kDrainTimedOut, e::kCannotSetUp,
                     e::kPythonFailed}) {
    CHECK(seen.insert(status).second);
    CHECK(std::string(e::describe(status)) != "");
    CHECK((status == 0 || status >= 64));
  }
  for (int app_status : {1, 2, 3, 4, 5, 127}) CHECK(std::string(e::describe(app_status)).empty());
}

TEST_CASE("a scoreboard slot reads back the request written, and nothing once it ended") {
  auto board = std::make_unique<wsgi_fpm::Scoreboard>();
  wsgi_fpm::ThreadSlot& slot = board->threads[3];
  wsgi_fpm::ThreadSlot::Request request;
  CHECK_FALSE(slot.busy());
  CHECK_FALSE(slot.read(request));
  board->request_started(3, "POST", "/upload?name=x");
  CHECK(board->busy_threads.load() == 1);
  REQUIRE(slot.read(request));
  CHECK(request.label == "POST /upload?name=x");
  CHECK(request.start_us > 0);
  CHECK(request.start_us <= wsgi_fpm::monotonic_us());
  std::uint32_t first = request.serial;
  board->request_finished(3, 41);
  CHECK_FALSE(slot.busy());
  CHECK_FALSE(slot.read(request));
  CHECK(board->busy_threads.load() == 0);
  CHECK(board->requests_served.load() == 41);
  // Every label length, around the 8-byte words it is stored in; the next
  // request has another serial.
  for (std::size_t length = 0; length <= 20; ++length) {
    std::string uri(length, 'u');
    board->request_started(3, "GET", uri);
    REQUIRE(slot.read(request));
    CHECK(request.label == "GET " + uri);
    CHECK(request.serial != first);
    board->request_finished(3, 42);
  }
}

TEST_CASE("a scoreboard label is cut at its size, however long the method or URI") {
  auto board = std::make_unique<wsgi_fpm::Scoreboard>();
  wsgi_fpm::ThreadSlot::Request request;
  board->request_started(0, "GET", std::string(1000, 'a'));
  REQUIRE(board->threads[0].read(request));
  CHECK(request.label == "GET " + std::string(wsgi_fpm::ThreadSlot::kLabelBytes - 4, 'a'));
  board->request_started(1, std::string(300, 'M'), "/x");
  REQUIRE(board->threads[1].read(request));
  CHECK(request.label == std::string(wsgi_fpm::ThreadSlot::kLabelBytes, 'M'));
}

TEST_CASE("a scoreboard read while its slot is rewritten is whole: label and start belong together") {
  auto board = std::make_unique<wsgi_fpm::Scoreboard>();
  std::atomic<bool> done{false};
  // The writer names each request after its start time, padded to lengths
  // that change, so that a torn read (one request's label, another's start,
  // or a mix of two labels) shows. Mostly one request right after another,
  // as a busy thread's are, with an idle moment now and then.
  std::thread writer([&] {
    for (std::uint64_t i = 1; !done.load(); ++i) {
      std::string uri = "/" + std::to_string(i) + std::string(i % 50, '.') + "/" + std::to_string(i);
      board->threads[0].begin("GET", uri, i);
      if (i % 16 == 0) board->threads[0].end();
    }
  });
  int whole = 0;
  // Until enough whole reads, or two seconds (the writer may start late on
  // a busy machine).
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (whole < 5000 && std::chrono::steady_clock::now() < until) {
    wsgi_fpm::ThreadSlot::Request request;
    if (!board->threads[0].read(request)) continue;
    std::string n = std::to_string(request.start_us);
    std::string expected = "GET /" + n + std::string(request.start_us % 50, '.') + "/" + n;
    REQUIRE(request.label == expected);
    ++whole;
  }
  done = true;
  writer.join();
  CHECK(whole > 0);
}

TEST_CASE("the scoreboard is mapped from the supervisor's memfd on both sides, or privately without one") {
  int fd = memfd_create("scoreboard-test", MFD_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, sizeof(wsgi_fpm::Scoreboard)) == 0);
  {
    wsgi_fpm::ScoreboardMapping supervisor(fd), worker(fd);
    REQUIRE(supervisor);
    REQUIRE(worker);
    worker->request_started(2, "GET", "/shared");
    wsgi_fpm::ThreadSlot::Request request;
    REQUIRE(supervisor->threads[2].read(request));
    CHECK(request.label == "GET /shared");
    CHECK(supervisor->busy_threads.load() == 1);
  }
  close(fd);
  wsgi_fpm::ScoreboardMapping own(-1);
  REQUIRE(own);
  CHECK(own->busy_threads.load() == 0);
  CHECK_FALSE(own->threads[0].busy());
}

TEST_CASE("every contract descriptor is above stdio and distinct") {
  std::set<int> seen;
  for (int fd : wsgi_fpm::kContractFds) {
    CHECK(fd > 2);
    CHECK(seen.insert(fd).second);
  }
}
