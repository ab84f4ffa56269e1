#include "worker/scgi_connection.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "protocol/cgi_response.h"
#include "protocol/scgi.h"
#include "util/log.h"

namespace wsgi_fpm::worker {

Connection::HeadResult ScgiConnection::read_head() {
  while (true) {
    auto result = scgi::parse_request_head(input_.unread(), limits_.request_header_limit, params_);
    if (result.status == scgi::ParseStatus::Complete) {
      input_.consume(result.consumed);
      body_left_ = protocol::parse_content_length(params_.get_or("CONTENT_LENGTH", "")).value_or(0);
      return HeadResult::Ready;
    }
    if (result.status == scgi::ParseStatus::TooLarge) {
      log::warning("refusing an SCGI request: {} (request-header-limit)", result.error);
      std::string response = protocol::error_response(431, "Request Header Fields Too Large");
      iovec iov{response.data(), response.size()};
      send_all(&iov, 1);
      return HeadResult::Refused;
    }
    if (result.status == scgi::ParseStatus::Malformed) {
      log::warning("closing an SCGI connection: {}", result.error);
      return HeadResult::Failed;
    }
    std::size_t room = 0;
    char* at = input_.prepare(4096, room);
    ssize_t got = receive(at, room, false);
    if (got < 0 && errno == EAGAIN) return HeadResult::Pending;
    if (got == 0 && input_.empty()) return HeadResult::Closed;
    if (got <= 0) {
      log::warning("SCGI connection: {} before the request head was complete",
                   got == 0 ? "closed" : errno == ETIMEDOUT ? "timed out (socket-timeout)" : std::strerror(errno));
      return HeadResult::Failed;
    }
    input_.commit(static_cast<std::size_t>(got));
  }
}

ssize_t ScgiConnection::read_body(char* buf, size_t n) {
  if (body_left_ == 0) return 0;
  if (broken_) return -1;
  n = static_cast<size_t>(std::min<std::uint64_t>(n, body_left_));
  ssize_t got;
  if (!input_.empty()) {
    auto unread = input_.unread();
    got = static_cast<ssize_t>(std::min(n, unread.size()));
    std::memcpy(buf, unread.data(), static_cast<size_t>(got));
    input_.consume(static_cast<size_t>(got));
  } else {
    got = receive(buf, n);  // large bodies go straight into the caller's buffer
    if (got <= 0) {
      log::warning("SCGI request body: {}", got == 0 ? "connection closed before CONTENT_LENGTH bytes"
                                                     : std::strerror(errno));
      broken_ = true;
      return -1;
    }
  }
  body_left_ -= static_cast<std::uint64_t>(got);
  return got;
}

bool ScgiConnection::drain_body() {
  char scratch[16384];
  while (body_left_ > 0) {
    if (read_body(scratch, sizeof scratch) < 0) return false;
  }
  return true;
}

bool ScgiConnection::write(std::span<const std::string_view> pieces, bool last) {
  if (broken_) return false;
  std::vector<iovec> iov;
  iov.reserve(pieces.size());
  for (auto p : pieces) {
    if (!p.empty()) iov.push_back({const_cast<char*>(p.data()), p.size()});
  }
  if (!iov.empty() && !send_all(iov.data(), static_cast<int>(iov.size()))) {
    broken_ = true;
    return false;
  }
  if (last) ::shutdown(fd_.get(), SHUT_WR);
  return true;
}

void ScgiConnection::abort() {
  broken_ = true;
  // A reset, not an orderly close: the frontend must not take a truncated
  // response for a complete one.
  linger hard{1, 0};
  setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  ::shutdown(fd_.get(), SHUT_RDWR);
}

}  // namespace wsgi_fpm::worker
