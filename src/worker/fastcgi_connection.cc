#include "worker/fastcgi_connection.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "protocol/cgi_response.h"
#include "util/log.h"

namespace wsgi_fpm::worker {

using fastcgi::ServerSession;

FastCgiConnection::FastCgiConnection(UniqueFd fd, const ConnectionLimits& limits)
    : Connection(std::move(fd), limits.socket_timeout_ms), session_(fastcgi::ServerLimits{limits.request_header_limit, limits.max_connections, limits.max_requests}) {}

bool FastCgiConnection::flush_reply() {
  if (reply_.empty()) return true;
  iovec iov{reply_.data(), reply_.size()};
  bool ok = send_all(&iov, 1);
  reply_.clear();
  if (!ok) broken_ = true;
  return ok;
}

bool FastCgiConnection::next_event(ServerSession::Event& event, bool may_read, bool may_wait) {
  would_block_ = false;
  while (true) {
    fastcgi::Record record;
    std::size_t consumed = 0;
    auto status = fastcgi::parse_record(input_.unread(), record, consumed);
    if (status == fastcgi::ParseStatus::Malformed) {
      log::warning("closing a FastCGI connection: record with version {} (not FastCGI?)",
                   static_cast<int>(static_cast<unsigned char>(input_.unread()[0])));
      broken_ = true;
      return false;
    }
    if (status == fastcgi::ParseStatus::Ok) {
      std::size_t content_offset = input_.begin_offset() + fastcgi::kHeaderSize;
      input_.consume(consumed);
      event = session_.on_record(record, reply_);
      if (!reply_.empty() && !flush_reply()) return false;
      if (event == ServerSession::Event::Error) {
        log::warning("closing a FastCGI connection: {}", session_.error());
        broken_ = true;
        return false;
      }
      if (event == ServerSession::Event::StdinData) {
        chunk_offset_ = content_offset;
        chunk_length_ = record.content.size();
      }
      if (event != ServerSession::Event::None) return true;
      continue;
    }
    if (!may_read) return false;
    // Incomplete: read more. No STDIN chunk is pending here, so the buffer may move.
    std::size_t room = 0;
    char* at = input_.prepare(16 * 1024, room);
    ssize_t got = receive(at, room, may_wait);
    if (got < 0 && errno == EAGAIN && !may_wait) {
      would_block_ = true;
      return false;
    }
    if (got <= 0) {
      bool between_requests = input_.empty() && !session_.active();
      if ((got == 0 || errno == ECONNRESET) && (between_requests || lingering_)) {
        clean_eof_ = true;  // between requests, or after the response was sent
      } else if (got == 0) {
        log::warning("FastCGI connection closed by the frontend in the middle of a request");
      } else {
        log::warning("FastCGI connection read failed: {}",
                     errno == ETIMEDOUT ? "timed out (socket-timeout)" : std::strerror(errno));
      }
      broken_ = true;
      return false;
    }
    input_.commit(static_cast<std::size_t>(got));
  }
}

Connection::HeadResult FastCgiConnection::read_head() {
  if (between_requests_) {
    session_.reset();
    lingering_ = false;
    stdin_done_ = false;
    chunk_length_ = 0;
    between_requests_ = false;
  }
  ServerSession::Event event;
  while (true) {
    if (!next_event(event, true, false)) {
      if (would_block_) return HeadResult::Pending;
      between_requests_ = true;
      return clean_eof_ ? HeadResult::Closed : HeadResult::Failed;
    }
    if (event == ServerSession::Event::HeadComplete) break;
    // Answered already (UNKNOWN_ROLE); the frontend said whether it keeps
    // the connection for another request.
    if (event == ServerSession::Event::Refused && !session_.keep_connection()) {
      between_requests_ = true;
      return HeadResult::Refused;
    }
    if (event == ServerSession::Event::Aborted) {
      // Aborted before the application ran: just end the request.
      std::string end;
      fastcgi::append_end_request(end, session_.request_id(), 0, fastcgi::ProtocolStatus::RequestComplete);
      iovec iov{end.data(), end.size()};
      if (!send_all(&iov, 1)) return HeadResult::Failed;
      session_.reset();
    }
  }
  between_requests_ = true;
  if (session_.params_too_large()) {
    log::warning("refusing a request whose parameters exceed request-header-limit");
    std::string response = protocol::error_response(431, "Request Header Fields Too Large");
    std::string_view piece = response;
    drain_body();
    write({&piece, 1}, true);
    return HeadResult::Refused;
  }
  return HeadResult::Ready;
}

ssize_t FastCgiConnection::read_body(char* buf, size_t n) {
  while (chunk_length_ == 0) {
    if (stdin_done_) return 0;
    if (broken_) return -1;
    ServerSession::Event event;
    if (!next_event(event)) return -1;
    if (event == ServerSession::Event::StdinEnd) stdin_done_ = true;
    if (event == ServerSession::Event::Aborted) {
      log::warning("the frontend aborted the request while the application read its body");
      broken_ = true;
      return -1;
    }
  }
  std::size_t take = std::min(n, chunk_length_);
  std::memcpy(buf, input_.base() + chunk_offset_, take);
  chunk_offset_ += take;
  chunk_length_ -= take;
  return static_cast<ssize_t>(take);
}

bool FastCgiConnection::drain_body() {
  char scratch[16384];
  while (true) {
    ssize_t got = read_body(scratch, sizeof scratch);
    if (got < 0) return false;
    if (got == 0) return true;
  }
}

bool FastCgiConnection::write(std::span<const std::string_view> pieces, bool last) {
  if (broken_) return false;
  std::size_t total = 0;
  for (auto p : pieces) total += p.size();
  // One STDOUT record per 65535 bytes; a record may span several pieces, and
  // padding is omitted (the spec makes it optional).
  std::size_t records = (total + fastcgi::kMaxContentLength - 1) / fastcgi::kMaxContentLength;
  headers_.resize(records + (last ? 2 : 0));
  iov_.clear();
  iov_.reserve(pieces.size() + records * 2 + 2);
  std::uint16_t id = session_.request_id();
  auto put_header = [&](std::size_t slot, fastcgi::RecordType type, std::size_t len) {
    std::string h;
    fastcgi::append_header(h, type, id, static_cast<std::uint16_t>(len), 0);
    std::memcpy(headers_[slot].data(), h.data(), 8);
    iov_.push_back({headers_[slot].data(), 8});
  };
  std::size_t slot = 0, left_in_record = 0, remaining = total;
  for (auto p : pieces) {
    while (!p.empty()) {
      if (left_in_record == 0) {
        left_in_record = std::min(remaining, fastcgi::kMaxContentLength);
        put_header(slot++, fastcgi::RecordType::Stdout, left_in_record);
      }
      std::size_t take = std::min(p.size(), left_in_record);
      iov_.push_back({const_cast<char*>(p.data()), take});
      p.remove_prefix(take);
      left_in_record -= take;
      remaining -= take;
    }
  }
  std::string end;
  if (last) {
    put_header(slot++, fastcgi::RecordType::Stdout, 0);  // the end of the STDOUT stream
    fastcgi::append_end_request(end, id, 0, fastcgi::ProtocolStatus::RequestComplete);
    iov_.push_back({end.data(), end.size()});
  }
  if (iov_.empty()) return true;
  if (!send_all(iov_.data(), static_cast<int>(iov_.size()))) {
    broken_ = true;
    return false;
  }
  return true;
}

void FastCgiConnection::abort() {
  // No END_REQUEST: the frontend sees the connection close mid-response and
  // fails the client's response instead of passing on a truncated one.
  broken_ = true;
  ::shutdown(fd_.get(), SHUT_RDWR);
}

void FastCgiConnection::skip_buffered_body() {
  chunk_length_ = 0;
  while (!stdin_done_ && !broken_) {
    ServerSession::Event event;
    if (!next_event(event, false)) return;
    if (event == ServerSession::Event::StdinData) chunk_length_ = 0;
    if (event == ServerSession::Event::StdinEnd) stdin_done_ = true;
    if (event == ServerSession::Event::Aborted) broken_ = true;  // nothing left to answer
  }
}

bool FastCgiConnection::finish_request() {
  if (broken_) return false;
  bool keep = session_.keep_connection();
  // The end of STDIN usually came in the same read as the head (a GET, or a
  // body the application did not read): then the connection closes at once,
  // with no shutdown and no linger (a syscall less per request).
  skip_buffered_body();
  if (broken_) return false;
  // Read to the end of STDIN even when the connection closes next: a
  // frontend still writing the body (or, like Apache, the empty STDIN record
  // after it) would fail the request on a closed socket (EPIPE: 502/503).
  // Without keep-conn, nginx waits for EOF and stops sending the body once
  // the response is in, so EOF goes first (as PHP-FPM's fcgi_close does),
  // and the linger is short.
  if (!keep && stdin_done_) return false;  // nothing left to read: just close
  lingering_ = true;
  if (!keep) {
    ::shutdown(fd_.get(), SHUT_WR);
    timeout_ms_ = std::min(timeout_ms_, kLingerMs);
  }
  if (!drain_body() || broken_) return false;
  return keep;
}

}  // namespace wsgi_fpm::worker
