#include "util/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <charconv>
#include <cstring>

#include <fmt/core.h>

namespace wsgi_fpm {
namespace {

// sun_path holds the path and its terminating NUL; longer paths would be
// silently truncated by bind(), so refuse them here.
constexpr std::size_t kMaxUnixPath = sizeof(sockaddr_un::sun_path) - 1;

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// Canonical numeric text, so "::0001" and "::1" compare equal.
std::optional<std::string> canonical_host(const std::string& host, int family) {
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(family, host.c_str(), buf) != 1) return std::nullopt;
  char text[INET6_ADDRSTRLEN];
  if (!inet_ntop(family, buf, text, sizeof text)) return std::nullopt;
  return std::string(text);
}

std::optional<Address> parse_unix(std::string_view path, std::string& why) {
  if (path.empty() || path.front() != '/') {
    why = "a UNIX socket path must be absolute";
    return std::nullopt;
  }
  if (path.size() > kMaxUnixPath) {
    why = fmt::format("a UNIX socket path may have at most {} bytes", kMaxUnixPath);
    return std::nullopt;
  }
  Address a;
  a.kind = Address::Kind::Unix;
  a.path = std::string(path);
  return a;
}

bool is_wildcard(const Address& a) { return a.host == "0.0.0.0" || a.host == "::"; }

}  // namespace

std::string Address::str() const {
  if (is_unix()) return path;
  return ipv6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

bool Address::conflicts_with(const Address& other) const {
  if (kind != other.kind) return false;
  if (is_unix()) return path == other.path;
  if (port != other.port) return false;
  return host == other.host || is_wildcard(*this) || is_wildcard(other);
}

std::optional<Address> parse_address(std::string_view text, std::string& why) {
  constexpr const char* kForms = "expected /path, unix:/path, IPV4:PORT or [IPV6]:PORT";
  if (text.starts_with("unix:")) return parse_unix(text.substr(5), why);
  if (text.starts_with("/")) return parse_unix(text, why);

  std::string host;
  std::string_view port_text;
  bool ipv6 = false;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      why = kForms;
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    ipv6 = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      why = kForms;
      return std::nullopt;
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      why = "an IPv6 address must be written in brackets, as [::1]:9001";
      return std::nullopt;
    }
    if (host == "localhost") host = "127.0.0.1";  // the one name everyone means the same by
  }
  auto canonical = canonical_host(host, ipv6 ? AF_INET6 : AF_INET);
  if (!canonical) {
    why = ipv6 ? fmt::format("'{}' is not a numeric IPv6 address", host)
               : fmt::format("'{}' is not a numeric IPv4 address ({})", host, kForms);
    return std::nullopt;
  }
  auto port = parse_port(port_text);
  if (!port) {
    why = fmt::format("port '{}' is not a number from 1 to 65535", port_text);
    return std::nullopt;
  }
  Address a;
  a.kind = Address::Kind::Tcp;
  a.host = *canonical;
  a.port = *port;
  a.ipv6 = ipv6;
  return a;
}

bool to_sockaddr(const Address& addr, sockaddr_storage& out, socklen_t& len, std::string& error) {
  std::memset(&out, 0, sizeof out);
  if (addr.is_unix()) {
    auto* un = reinterpret_cast<sockaddr_un*>(&out);
    un->sun_family = AF_UNIX;
    if (addr.path.size() > kMaxUnixPath) {
      error = "socket path too long: " + addr.path;
      return false;
    }
    std::memcpy(un->sun_path, addr.path.c_str(), addr.path.size() + 1);
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + addr.path.size() + 1);
    return true;
  }
  auto* in4 = reinterpret_cast<sockaddr_in*>(&out);
  if (!addr.ipv6 && inet_pton(AF_INET, addr.host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(addr.port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET6, addr.host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(addr.port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  error = "bad address " + addr.host;
  return false;
}

}  // namespace wsgi_fpm
