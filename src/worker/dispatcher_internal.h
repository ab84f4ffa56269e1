// What the files of the Dispatcher (dispatcher.cc, dispatcher_listener.cc,
// dispatcher_stop.cc) share: a connection's entry, and a look at whether
// input waits on a socket. Internal to them.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>

#include "worker/dispatcher.h"

namespace wsgi_fpm::worker {

struct Dispatcher::Entry {
  std::unique_ptr<Connection> connection;
  bool registered = false;  // has been added to the epoll set
  // No request read from it yet: a connection accepted in a burst waits in
  // the epoll set for its first request, which a stop must not cut off.
  bool fresh = true;
  // When its request head must be complete (request-read-timeout); none
  // while it idles between requests.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::chrono::steady_clock::time_point parked_at;  // for the longest-idle choice
  bool graced = false;  // has had its wait for the first request head in a thread
  // A request is on its way to us on it: served, never closed, by a stop.
  bool owes_request() const { return fresh || connection->head_begun(); }
};

namespace dispatcher_internal {
// A request (or the frontend's close) already waiting on a connection. An
// error counts too: the thread that serves it finds out.
inline bool input_waiting(int fd) {
  char byte;
  ssize_t n;
  do n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}
}  // namespace dispatcher_internal

}  // namespace wsgi_fpm::worker
