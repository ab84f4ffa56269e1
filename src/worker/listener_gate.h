// Which of a worker's request threads wait for new work.
//
// A thread asleep in epoll_wait is woken for every connection that comes
// while it sleeps, even when a sibling thread is about to finish its request
// and would have taken that connection without sleeping at all. With as
// many threads as connections, every request then costs a wake-up: 2
// processes x 4 threads serving hello world at 8 connections made 1.46
// context switches per request and 34k requests/s, the same processes with 1
// thread each 0.45 and 47k. Under the GIL, a second thread only helps when
// the first is blocked (time.sleep, a database, a slow client), so:
//
//  - one thread per process listens (waits in the epoll set); the others
//    wait in reserve, on a condition variable nothing signals per request;
//  - a promoter thread looks every tick (1 ms) while requests run. A thread
//    still at the request it had at the previous tick is held (blocked, or
//    long). When no thread listens, each held thread lends its place: as
//    many reserve threads are promoted to listeners;
//  - a thread back from a request listens if no thread does, or if some
//    thread was held at the last tick (requests block: every thread may
//    listen, as without the gate); else it joins the reserve;
//  - idle for 100 ticks, the promoter sleeps until a request starts.
//
// A process whose threads are all busy has no listener, and the listening
// socket's EPOLLEXCLUSIVE hands new connections to a sibling process that
// has one, or leaves them in the backlog for the first thread back.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

namespace wsgi_fpm::worker {

class ListenerGate {
 public:
  explicit ListenerGate(std::chrono::microseconds tick = std::chrono::milliseconds(1));
  ~ListenerGate();
  ListenerGate(const ListenerGate&) = delete;
  ListenerGate& operator=(const ListenerGate&) = delete;

  // One request thread's place (it stays where it is as more threads join).
  struct Seat {
    std::atomic<std::uint64_t> requests{0};  // work taken so far
    std::atomic<bool> serving{false};
    std::uint64_t seen = 0;  // the promoter's: `requests` at its last tick
  };

  // A request thread starts: its seat, for the calls below.
  Seat& join();
  // Blocks until this thread may listen. False once closed.
  bool wait_turn();
  // The listener got work: it no longer listens, it serves.
  void start_serving(Seat& seat);
  // Back from that work; wait_turn next.
  void stop_serving(Seat& seat) { seat.serving.store(false); }
  // A listener leaves for good (an error).
  void resign() { listeners_.fetch_sub(1); }
  // Every wait_turn returns false from now on; the promoter stops.
  void close();

  // For tests: threads listening, and threads in reserve.
  int listeners() const { return listeners_.load(); }
  int reserves();

 private:
  void promote_loop();
  bool any_serving();  // under mutex_

  const std::chrono::microseconds tick_;
  std::atomic<int> listeners_{0};
  std::atomic<bool> promoter_asleep_{false};
  // At the last tick, some thread was held at its request.
  std::atomic<bool> blocking_{false};
  std::atomic<bool> closed_{false};  // set under mutex_

  std::mutex mutex_;
  std::condition_variable reserve_cv_;
  std::condition_variable promoter_cv_;
  std::deque<Seat> seats_;  // a deque: seats stay where they are as more join
  int reserves_ = 0;
  int promotions_ = 0;  // promoted, not yet woken
  std::thread promoter_;  // started when a second thread joins
};

}  // namespace wsgi_fpm::worker
