// One accepted frontend connection, as the request threads see it: read a
// request head, serve it through python::RequestIo, then either keep the
// connection for the next request (FastCGI keep-conn) or close it.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <memory>
#include <string>

#include "python/request_io.h"
#include "util/fd.h"

namespace wsgi_fpm::worker {

struct ConnectionLimits {
  std::size_t request_header_limit = 64 * 1024;
  int socket_timeout_ms = 60 * 1000;  // socket-timeout
  // What a FastCGI frontend is told by GET_VALUES (0: not said).
  unsigned max_connections = 0;
  unsigned max_requests = 0;
};

// A read buffer that does not zero what it is about to overwrite.
class InputBuffer {
 public:
  explicit InputBuffer(std::size_t capacity = 64 * 1024)
      : data_(new char[capacity]), capacity_(capacity) {}
  std::string_view unread() const { return {data_.get() + begin_, end_ - begin_}; }
  void consume(std::size_t n) { begin_ += n; }
  // Moves unread bytes to the front and makes room for `at_least` more.
  char* prepare(std::size_t at_least, std::size_t& room);
  void commit(std::size_t n) { end_ += n; }
  bool empty() const { return begin_ == end_; }
  // Offsets stay valid until the next prepare().
  std::size_t begin_offset() const { return begin_; }
  const char* base() const { return data_.get(); }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

class Connection : public python::RequestIo {
 public:
  enum class HeadResult {
    Ready,    // params() holds a request; serve it
    Pending,  // no complete head yet and nothing more to read now: wait for
              // the socket to be readable, then call read_head() again
    Closed,   // the frontend closed between requests: nothing to log
    Refused,  // a response was already sent (request too large, ...); close
    Failed,   // a protocol error or timeout, already logged; close
  };

  // `fd` is non-blocking; reads and writes wait up to `timeout_ms` for it.
  Connection(UniqueFd fd, int timeout_ms) : fd_(std::move(fd)), timeout_ms_(timeout_ms) {}
  int fd() const { return fd_.get(); }

  // Never waits for the socket: what has not arrived yet is Pending, so a
  // connection that sends its head slowly (or not at all) holds no thread.
  virtual HeadResult read_head() = 0;
  // Some bytes of a request head are here (or the connection is new and
  // owes one): request-read-timeout applies while it waits.
  virtual bool head_begun() const = 0;
  // After the response: true if the next request may arrive on this
  // connection (reading past any body the application left unread).
  virtual bool finish_request() = 0;
  // Bytes of a following request already read (pipelining).
  virtual bool has_buffered_input() const = 0;
  // Reads and discards the rest of the request body, so a frontend still
  // sending it does not fail on a closed socket. False on error.
  virtual bool drain_body() = 0;

 protected:
  // One recv into `buf`, retrying EINTR. 0 on EOF, -1 on error or timeout
  // (errno ETIMEDOUT), or with `wait` false -1 and EAGAIN when nothing is
  // there yet.
  ssize_t receive(char* buf, std::size_t n, bool wait = true);
  // Writes every byte of `iov`, retrying partial writes. False on error.
  bool send_all(struct iovec* iov, int count);
  // How long a closing connection waits for the rest of a request body.
  static constexpr int kLingerMs = 5000;
  // Waits for `events` up to the socket timeout: false on timeout or error.
  bool wait_for(short events);
  UniqueFd fd_;
  int timeout_ms_;
};

}  // namespace wsgi_fpm::worker
