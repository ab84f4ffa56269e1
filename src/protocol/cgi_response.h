// The response head a WSGI application produces, checked and serialised as a
// CGI response ("Status: 200 OK\r\nName: value\r\n\r\n"), which FastCGI and
// SCGI frontends both expect. Pure: no Python, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsgi_fpm::protocol {

// Empty when `status` is a valid WSGI status ("200 OK": three digits, a space,
// a reason without control characters); otherwise what is wrong.
std::string check_status(std::string_view status);

// Empty when the header may be sent; otherwise what is wrong. Names must be
// RFC 9110 tokens; values must not hold CR, LF or NUL, so an application can
// never inject a header or split the response.
std::string check_header(std::string_view name, std::string_view value);

class ResponseHead {
 public:
  void set_status(std::string_view status) { status_.assign(status); }
  void add_header(std::string_view name, std::string_view value);
  void clear();
  const std::string& status() const { return status_; }
  int status_code() const;
  std::optional<std::uint64_t> content_length() const { return content_length_; }
  // The CGI head, ending with the blank line.
  std::string serialize() const;
  std::size_t serialized_size() const;

 private:
  std::string status_;
  std::string headers_;  // "Name: value\r\n" each, as they go out
  std::optional<std::uint64_t> content_length_;
};

// A complete minimal response for errors the application never sees (413,
// 500 before any header was sent, ...).
std::string error_response(int code, std::string_view reason);

}  // namespace wsgi_fpm::protocol
