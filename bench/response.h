// Streaming response decoders for the load generator. They look at each byte
// once, as it arrives, and keep only the CGI header block (to find the status)
// and a record header: no buffering of bodies, no allocation per response.
// protocol::fastcgi::ClientResponse is the reference they are checked against
// (see the probe in loadgen.cc); it keeps the whole body, which a generator
// cannot afford at 100k requests/s.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wsgi_fpm::bench {

// Finds the status of a CGI-style response ("Status: 404 Not Found", or an
// "HTTP/1.1 404 ..." first line as some SCGI servers send) in its header block
// and counts the body bytes after it.
class CgiHead {
 public:
  void reset() {
    state_ = State::Head;
    status_ = 200;
    body_bytes_ = 0;
    head_len_ = 0;
  }
  void feed(const char* p, std::size_t n);
  bool complete() const { return state_ == State::Body; }
  bool malformed() const { return state_ == State::Malformed; }
  int status() const { return status_; }
  std::uint64_t body_bytes() const { return body_bytes_; }
  std::string_view head() const { return {head_.data(), head_len_}; }

 private:
  enum class State { Head, Body, Malformed };
  void parse_head();

  State state_ = State::Head;
  int status_ = 200;  // CGI's default when no Status header is given
  std::uint64_t body_bytes_ = 0;
  std::size_t head_len_ = 0;
  std::array<char, 16384> head_;  // not value-initialized: reset() stays cheap
};

// Follows one FastCGI response: STDOUT/STDERR records until END_REQUEST.
class FastcgiResponse {
 public:
  enum class Result { NeedMore, Done, Error };

  void reset();
  // Consumes bytes; on Done, `used` tells where the response ended.
  Result feed(const char* p, std::size_t n, std::size_t& used);
  const CgiHead& head() const { return head_; }
  std::uint32_t app_status() const { return app_status_; }
  std::uint64_t stderr_bytes() const { return stderr_bytes_; }
  const char* error() const { return error_; }

 private:
  enum class State { Header, Content, Padding };
  Result fail(const char* why) {
    error_ = why;
    return Result::Error;
  }
  Result on_header();
  Result on_record_end();

  State state_ = State::Header;
  std::array<unsigned char, 8> header_{};
  std::size_t header_have_ = 0;
  std::uint8_t type_ = 0;
  std::size_t content_left_ = 0;
  std::size_t padding_left_ = 0;
  std::array<unsigned char, 8> end_body_{};
  std::size_t end_have_ = 0;
  std::uint32_t app_status_ = 0;
  std::uint64_t stderr_bytes_ = 0;
  const char* error_ = "";
  CgiHead head_;
};

}  // namespace wsgi_fpm::bench
