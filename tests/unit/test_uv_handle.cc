// Owned libuv handles (src/supervisor/uv_handle.h): a handle outlives its
// owner until libuv's close callback, callbacks may close, restart or
// destroy their own handle, and an owner's count of handles reaches zero
// once, after the last close. Under AddressSanitizer (scripts/sanitize) a
// box freed too early or never is an error.
#include <doctest/doctest.h>
#include <unistd.h>

#include <list>
#include <memory>
#include <optional>
#include <vector>

#include "supervisor/uv_handle.h"

using wsgi_fpm::supervisor::HandleCount;
using wsgi_fpm::supervisor::Poll;
using wsgi_fpm::supervisor::Timer;

namespace {

struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);  // the close callbacks left
    CHECK(uv_loop_close(&loop) == 0);
  }
  void run() { uv_run(&loop, UV_RUN_DEFAULT); }
};

}  // namespace

TEST_CASE("an owner gone before the loop runs leaves its handles to close by themselves") {
  Loop l;
  int zero = 0;
  {
    auto count = std::make_unique<HandleCount>();
    count->on_all_closed([&] { ++zero; });
    Timer a, b;
    REQUIRE(a.open(&l.loop, count.get()));
    REQUIRE(b.open(&l.loop, count.get()));
    CHECK(count->open() == 2);
    a.start(1000, 0, [] { FAIL("a closed timer fired"); });
    count.reset();  // the owner's count goes first; its timers after it
  }
  l.run();
  CHECK(zero == 0);  // never called once its HandleCount was gone
}

TEST_CASE("the count reaches zero once, after the last close callback") {
  Loop l;
  HandleCount count;
  int zero = 0;
  count.on_all_closed([&] { ++zero; });
  Timer a, b;
  REQUIRE(a.open(&l.loop, &count));
  REQUIRE(b.open(&l.loop, &count));
  a.close();
  CHECK(count.open() == 2);  // closing, not closed
  l.run();
  CHECK(count.open() == 1);
  CHECK(zero == 0);
  b.close();
  l.run();
  CHECK(count.open() == 0);
  CHECK(zero == 1);
}

TEST_CASE("a callback may close, restart or destroy its own timer") {
  Loop l;
  HandleCount count;
  std::vector<int> seen;
  {
    Timer restarted;
    REQUIRE(restarted.open(&l.loop, &count));
    auto big = std::make_shared<std::vector<int>>(1000, 7);  // captured: its copy must stay valid
    restarted.start(1, 0, [&, big] {
      restarted.start(1, 0, [&] { seen.push_back(2); });
      seen.push_back(static_cast<int>(big->size()));  // after replacing the callback running now
    });
    l.run();
  }
  CHECK(seen == std::vector<int>{1000, 2});

  std::list<Timer> shots;  // as Pool::after keeps its one-shot timers
  for (int i = 0; i < 3; ++i) {
    auto it = shots.emplace(shots.end());
    REQUIRE(it->open(&l.loop, &count));
    it->start(static_cast<std::uint64_t>(i), 0, [&, it, i] {
      shots.erase(it);  // destroys the timer whose callback this is
      seen.push_back(10 + i);
    });
  }
  l.run();
  CHECK(shots.empty());
  CHECK(seen == std::vector<int>{1000, 2, 10, 11, 12});
  CHECK(count.open() == 0);
}

TEST_CASE("timers move with the vector that holds them") {
  Loop l;
  HandleCount count;
  std::vector<Timer> slots(1);
  REQUIRE(slots[0].open(&l.loop, &count));
  int fired = 0;
  slots[0].start(1, 0, [&] { ++fired; });
  slots.resize(64);  // reallocates: the running timer moves
  CHECK(slots[0].active());
  CHECK_FALSE(slots[1]);
  l.run();
  CHECK(fired == 1);
  slots.clear();
  l.run();
  CHECK(count.open() == 0);
}

TEST_CASE("a poll reports a readable descriptor, and stops") {
  Loop l;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  Poll watch;
  REQUIRE(watch.open(&l.loop, fds[0]) == 0);
  int reports = 0;
  watch.start(UV_READABLE, [&](int status, int events) {
    CHECK(status == 0);
    CHECK((events & UV_READABLE) != 0);
    ++reports;
    watch.stop();
  });
  REQUIRE(write(fds[1], "x", 1) == 1);
  l.run();
  CHECK(reports == 1);
  watch.close();
  l.run();
  close(fds[0]);
  close(fds[1]);
  Poll bad;
  CHECK(bad.open(&l.loop, -1) != 0);  // libuv's error, no handle made
  CHECK_FALSE(bad);
}
