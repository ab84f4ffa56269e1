// How a worker's request threads share its connections.
//
// The listening thread (one at a time: worker/listener_gate.h) waits in
// epoll_wait on one epoll set holding the pool's listening socket
// (EPOLLEXCLUSIVE, edge-triggered) and the idle keep-alive connections
// (EPOLLONESHOT); it serves what wakes it itself (no hand-off between
// threads). So:
//  - a process accepts only while a thread listens; busy processes leave
//    new connections in the shared backlog for their siblings;
//  - an idle keep-alive connection costs an epoll entry, never a thread, and
//    so does one whose request head has not all come yet (read_head never
//    waits): it waits in the epoll set for at most request-read-timeout;
//  - at most maximum-connections are open: over it the longest idle one
//    closes, and the listening socket is never left unserved;
//  - a graceful stop takes the listening socket out of the epoll set
//    (siblings keep accepting), serves what it has accepted and what its
//    backlog holds at that moment, lets requests in flight finish, serves
//    each keep-alive connection that has a request waiting, and hands the
//    other keep-alive connections over to a sibling process (set_hand_over)
//    rather than closing them: a frontend may be sending a request on one
//    at the very moment a close would reach it (nginx retries only
//    idempotent requests elsewhere; a POST gets a 502).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "util/fd.h"
#include "worker/connection.h"
#include "worker/contract.h"
#include "worker/listener_gate.h"

namespace wsgi_fpm::worker {

struct DispatcherLimits {
  // How long a request head may take to arrive, from the connection's accept
  // or the head's first byte (request-read-timeout).
  std::chrono::milliseconds request_read_timeout{10000};
  std::size_t maximum_connections = 512;  // maximum-connections
  // How long the thread that accepted a connection waits in it for the first
  // request head before parking it (why: dispatcher.cc).
  std::chrono::milliseconds first_head_grace{20};
};

class Dispatcher {
 public:
  using ConnectionFactory = std::function<std::unique_ptr<Connection>(UniqueFd)>;
  // Serves one request whose head has been read.
  using RequestHandler = std::function<void(Connection&)>;

  // dispatcher.cc: construction, the request threads, the epoll set.
  Dispatcher(int listen_fd, ConnectionFactory factory, DispatcherLimits limits = {});
  ~Dispatcher();

  // The body of each request thread; returns once the dispatcher is stopped
  // and drained.
  void run_thread(const RequestHandler& handler);
  // A keep-alive connection handed over by a sibling: from now on an idle
  // keep-alive connection of this dispatcher (after the admission check).
  // Stopping, it is treated as the dispatcher's own idle ones are.
  // Safe from any thread.
  void adopt(UniqueFd fd);
  // One more descriptor in the epoll set, level-triggered: the request
  // thread it wakes calls `on_readable`, which must not block (e.g. a
  // socket that connections are handed over on); false takes the
  // descriptor out of the set. begin_stop calls it once more, first. Call
  // once, before run_thread.
  void watch(int fd, std::function<bool()> on_readable);

  // dispatcher_listener.cc: the listening socket, and admission.
  // A check on each accepted socket before any byte is read; false closes it.
  void set_admission(std::function<bool(int fd)> admit) { admit_ = std::move(admit); }
  // Called once, on whichever thread finds out, when the listening socket is
  // no longer ours: the application closed it (its number may name another
  // file by now). This process can accept nothing more and should be
  // replaced; it stops trying (no spin) and serves what it has.
  void set_listener_lost(std::function<void(const std::string& why)> lost) { on_lost_ = std::move(lost); }
  // Whether the listening socket is still the one we were given (an fstat);
  // the first time it is not, the listener-lost callback runs.
  bool check_listener();

  // dispatcher_stop.cc: stopping, hand-over and draining.
  // Where idle keep-alive connections go when this dispatcher stops: true if
  // `fds` were handed over (the receiver has copies; the dispatcher closes
  // its own), false if they could not be, and they are closed. Unset, they
  // are closed. Called with an internal lock held: it must not block.
  using HandOver = std::function<bool(const int* fds, std::size_t count)>;
  void set_hand_over(HandOver hand_over) { hand_over_ = std::move(hand_over); }
  // Stops accepting. Requests in flight, connections accepted whose request
  // has not come yet and keep-alive connections with a request waiting go
  // on; the other keep-alive connections are handed over (or closed).
  // Safe from any thread.
  void begin_stop();
  // Waits until no connection is left, or the deadline. True if drained.
  bool wait_drained(std::chrono::steady_clock::time_point deadline);
  // Makes every run_thread return.
  void release_threads();
  std::size_t open_connections();

 private:
  struct Entry;  // defined in dispatcher_internal.h

  // dispatcher.cc: serving connections, and parking them in the epoll set
  // between requests with their request-read-timeout.
  // The thread that serves a connection owns its Entry; only connections
  // waiting in the epoll set are in waiting_. So a connection per request
  // (nginx's default) takes no lock.
  void serve(std::unique_ptr<Entry> entry, const RequestHandler& handler);
  // Into the epoll set (and waiting_) until its next request; stopping, a
  // keep-alive connection with no request waiting is let go (let_go_locked).
  void park(std::unique_ptr<Entry> entry);
  void park_locked(std::unique_ptr<Entry> entry);  // mutex_ held
  void close(std::unique_ptr<Entry> entry);
  void close_locked(std::unique_ptr<Entry> entry);  // mutex_ held
  // Closes the waiting connections whose request head is overdue; arms the
  // timer again while any is left with a deadline.
  void expire_overdue();
  void arm_expiry_locked();  // mutex_ held

  // dispatcher_listener.cc
  void accept_burst(const RequestHandler& handler);
  // A connection from the backlog, or none with errno EAGAIN (empty, or
  // stopping), EINTR or ECONNABORTED (try again).
  UniqueFd accept_one();
  UniqueFd accept_listening();  // accept_one, stopping or not
  // Runs the admission check and counts the connection; null if refused.
  // Over maximum-connections, the longest idle waiting one is closed first.
  std::unique_ptr<Entry> admit(UniqueFd fd);
  std::unique_ptr<Entry> admit_locked(UniqueFd fd);  // mutex_ held (begin_stop)
  // Over maximum-connections: takes the waiting connection to close to make
  // room (an idle keep-alive one first, the longest idle); null if none.
  std::unique_ptr<Entry> make_room_locked();
  // The connection, counted open: what admit() and admit_locked() end with.
  std::unique_ptr<Entry> count_in(UniqueFd fd);
  void lose_listener(const std::string& why);

  // dispatcher_stop.cc
  // Stopping: keep-alive connections between requests, out of the epoll
  // set, with no byte waiting when looked at. Handed over in one go, or
  // closed. mutex_ held.
  void let_go_locked(std::vector<std::unique_ptr<Entry>> idle);

  UniqueFd listen_fd_;
  FdIdentity listen_identity_;
  std::atomic<bool> listener_lost_{false};
  std::function<void(const std::string& why)> on_lost_;
  UniqueFd epoll_fd_;
  UniqueFd exit_event_fd_;
  UniqueFd expiry_timer_fd_;  // timerfd: ticks while a waiting connection has a deadline
  bool expiry_armed_ = false;  // mutex_ held
  ConnectionFactory factory_;
  DispatcherLimits limits_;
  std::function<bool(int fd)> admit_;
  HandOver hand_over_;
  int watched_fd_ = -1;
  std::function<bool()> on_watched_;

  ListenerGate gate_;  // which threads wait in epoll_wait
  // Threads inside epoll_wait right now.
  std::atomic<int> waiting_threads_{0};
  // The backlog may hold connections no edge will announce: the next thread
  // back from a request accepts them.
  std::atomic<bool> backlog_pending_{false};

  // Connections open: served, or waiting.
  std::atomic<std::size_t> open_{0};
  std::atomic<bool> stopping_{false};  // set under mutex_

  std::mutex mutex_;
  std::condition_variable drained_;
  std::unordered_map<Entry*, std::unique_ptr<Entry>> waiting_;
};

}  // namespace wsgi_fpm::worker
