#include "util/text_escape.h"

#include <cstdint>

#include "fmt/format.h"

namespace wsgi_fpm {
namespace {

// Length of the valid UTF-8 sequence at the front of `s` (1-4), or 0 if the
// first byte starts none (overlong forms and surrogates are invalid).
std::size_t utf8_sequence(std::string_view s) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = byte(0);
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
  else return 0;
  if (s.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

bool c1_control(std::string_view seq) {  // U+0080..U+009F, encoded as C2 80..C2 9F
  return seq.size() == 2 && static_cast<unsigned char>(seq[0]) == 0xc2 && static_cast<unsigned char>(seq[1]) < 0xa0;
}

}  // namespace

std::string json_string(std::string_view bytes) {
  std::string out = "\"";
  while (!bytes.empty()) {
    std::size_t n = utf8_sequence(bytes);
    unsigned char c = static_cast<unsigned char>(bytes[0]);
    if (n == 0) {
      out += "\\ufffd";
      n = 1;
    } else if (n > 1) {
      if (c1_control(bytes.substr(0, n))) out += fmt::format("\\u{:04x}", static_cast<unsigned char>(bytes[1]));
      else out.append(bytes.substr(0, n));
    } else {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          if (c < 0x20 || c == 0x7f) out += fmt::format("\\u{:04x}", c);
          else out.push_back(static_cast<char>(c));
      }
    }
    bytes.remove_prefix(n);
  }
  return out + "\"";
}

std::string printable(std::string_view bytes) {
  std::string out;
  while (!bytes.empty()) {
    std::size_t n = utf8_sequence(bytes);
    unsigned char c = static_cast<unsigned char>(bytes[0]);
    if (n == 0 || c < 0x20 || c == 0x7f || c == '\\' || (n == 2 && c1_control(bytes.substr(0, 2)))) {
      std::size_t len = n == 0 ? 1 : n;
      for (std::size_t i = 0; i < len; ++i) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(bytes[i]));
      bytes.remove_prefix(len);
      continue;
    }
    out.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
  }
  return out;
}

}  // namespace wsgi_fpm
