#include "protocol/cgi_response.h"

#include <strings.h>

#include <cctype>
#include <charconv>

#include "protocol/params.h"

namespace wsgi_fpm::protocol {
namespace {

bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string check_status(std::string_view status) {
  if (status.size() < 4 || !std::isdigit(static_cast<unsigned char>(status[0])) ||
      !std::isdigit(static_cast<unsigned char>(status[1])) ||
      !std::isdigit(static_cast<unsigned char>(status[2])) || status[3] != ' ')
    return "status must be three digits, a space and a reason phrase, e.g. '200 OK'";
  if (status[0] == '0') return "status code must be from 100 to 999";
  for (unsigned char c : status) {
    if (c < 0x20 || c == 0x7f) return "status contains a control character";
  }
  return {};
}

std::string check_header(std::string_view name, std::string_view value) {
  if (name.empty()) return "header name is empty";
  for (unsigned char c : name) {
    if (!is_token_char(c)) return "header name '" + std::string(name) + "' contains an invalid character";
  }
  for (unsigned char c : value) {
    if (c == '\r' || c == '\n' || c == '\0')
      return "header '" + std::string(name) + "' value contains CR, LF or NUL";
  }
  if (strcasecmp(std::string(name).c_str(), "status") == 0)
    return "'Status' is not a valid header name (use the status argument)";
  return {};
}

void ResponseHead::add_header(std::string_view name, std::string_view value) {
  if (name.size() == 14 && strncasecmp(name.data(), "content-length", 14) == 0) {
    content_length_ = parse_content_length(value);
  }
  headers_.append(name).append(": ").append(value).append("\r\n");
}

void ResponseHead::clear() {
  status_.clear();
  headers_.clear();
  content_length_.reset();
}

int ResponseHead::status_code() const {
  int code = 0;
  if (status_.size() >= 3) std::from_chars(status_.data(), status_.data() + 3, code);
  return code;
}

std::size_t ResponseHead::serialized_size() const {
  return 8 + status_.size() + 2 + headers_.size() + 2;
}

std::string ResponseHead::serialize() const {
  std::string out;
  out.reserve(serialized_size());
  out += "Status: ";
  out += status_;
  out += "\r\n";
  out += headers_;
  out += "\r\n";
  return out;
}

std::string error_response(int code, std::string_view reason) {
  std::string body = std::to_string(code) + " " + std::string(reason) + "\n";
  return "Status: " + std::to_string(code) + " " + std::string(reason) +
         "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace wsgi_fpm::protocol
