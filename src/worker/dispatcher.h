// How a worker's request threads share its connections.
//
// Every request thread waits in epoll_wait on one epoll set holding the
// pool's listening socket (EPOLLEXCLUSIVE) and the idle keep-alive
// connections (EPOLLONESHOT): each readiness wakes one thread, which then
// serves that connection itself (no hand-off between threads). So:
//  - a process accepts only while it has an idle thread; busy processes leave
//    new connections in the shared backlog for their siblings;
//  - an idle keep-alive connection costs an epoll entry, never a thread;
//  - a graceful stop takes the listening socket out of the epoll set
//    (siblings keep accepting), lets requests in flight finish, and closes
//    idle connections.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "util/fd.h"
#include "worker/connection.h"

namespace wsgi_fpm::worker {

class Dispatcher {
 public:
  using ConnectionFactory = std::function<std::unique_ptr<Connection>(UniqueFd)>;
  // Serves one request whose head has been read.
  using RequestHandler = std::function<void(Connection&)>;

  Dispatcher(int listen_fd, ConnectionFactory factory);
  ~Dispatcher();

  // A check on each accepted socket before any byte is read; false closes it.
  void set_admission(std::function<bool(int fd)> admit) { admit_ = std::move(admit); }

  // The body of each request thread; returns once the dispatcher is stopped
  // and drained.
  void run_thread(const RequestHandler& handler);

  // Stops accepting and closes idle connections; requests in flight go on.
  // Safe from any thread.
  void begin_stop();
  // Waits until no connection is left, or the deadline. True if drained.
  bool wait_drained(std::chrono::steady_clock::time_point deadline);
  // Makes every run_thread return.
  void release_threads();
  std::size_t open_connections();

 private:
  struct Entry;
  void serve(Entry* entry, const RequestHandler& handler);
  void accept_one(const RequestHandler& handler);
  void close_entry(Entry* entry);
  void arm(Entry* entry, bool first_time);

  UniqueFd listen_fd_;
  UniqueFd epoll_fd_;
  UniqueFd exit_event_fd_;
  ConnectionFactory factory_;
  std::function<bool(int fd)> admit_;

  std::mutex mutex_;
  std::condition_variable drained_;
  bool stopping_ = false;
  std::unordered_map<Entry*, std::unique_ptr<Entry>> entries_;
};

}  // namespace wsgi_fpm::worker
