#include "protocol/scgi.h"

#include <cstring>

namespace wsgi_fpm::scgi {
namespace {

ParseResult malformed(std::string message) {
  return {ParseStatus::Malformed, 0, std::move(message)};
}

}  // namespace

ParseResult parse_request_head(std::string_view buf, std::size_t max_head_bytes,
                               protocol::Params& out) {
  // The netstring's length: decimal digits, no leading zeros beyond "0", then ':'.
  std::size_t pos = 0;
  std::size_t length = 0;
  while (pos < buf.size() && buf[pos] >= '0' && buf[pos] <= '9') {
    if (pos == 1 && buf[0] == '0') return malformed("netstring length has a leading zero");
    length = length * 10 + static_cast<std::size_t>(buf[pos] - '0');
    if (length > max_head_bytes) {
      return {ParseStatus::TooLarge, 0,
              "request head larger than " + std::to_string(max_head_bytes) + " bytes"};
    }
    ++pos;
  }
  if (pos == buf.size()) {
    if (pos > 10) return malformed("netstring length too long");
    return {};  // Incomplete
  }
  if (pos == 0) return malformed("request does not start with a netstring length");
  if (buf[pos] != ':') return malformed("netstring length not followed by ':'");
  ++pos;
  if (buf.size() - pos < length + 1) return {};  // Incomplete
  std::string_view headers = buf.substr(pos, length);
  if (buf[pos + length] != ',') return malformed("netstring not terminated by ','");
  if (headers.empty() || headers.back() != '\0')
    return malformed("headers do not end with a NUL byte");

  protocol::Params parsed;
  std::size_t at = 0;
  while (at < headers.size()) {
    auto name_end = headers.find('\0', at);
    auto value_end = name_end == std::string_view::npos ? name_end : headers.find('\0', name_end + 1);
    if (value_end == std::string_view::npos) return malformed("header name without a value");
    auto name = headers.substr(at, name_end - at);
    if (name.empty()) return malformed("empty header name");
    parsed.add(name, headers.substr(name_end + 1, value_end - name_end - 1));
    at = value_end + 1;
  }
  if (parsed.empty() || parsed.front().name != "CONTENT_LENGTH")
    return malformed("first header is not CONTENT_LENGTH");
  if (!protocol::parse_content_length(parsed.front().value))
    return malformed("CONTENT_LENGTH is not a decimal number");
  out = std::move(parsed);
  return {ParseStatus::Complete, pos + length + 1, {}};
}

std::string encode_request_head(const protocol::Params& params, std::size_t body_length) {
  std::string headers;
  auto add = [&](std::string_view name, std::string_view value) {
    headers.append(name);
    headers.push_back('\0');
    headers.append(value);
    headers.push_back('\0');
  };
  add("CONTENT_LENGTH", std::to_string(body_length));
  add("SCGI", "1");
  for (const auto p : params) {
    if (p.name == "CONTENT_LENGTH" || p.name == "SCGI") continue;
    add(p.name, p.value);
  }
  return std::to_string(headers.size()) + ":" + headers + ",";
}

}  // namespace wsgi_fpm::scgi
