#include "util/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <charconv>
#include <cstring>

namespace wsgi_fpm {

std::string Address::str() const {
  if (kind == Kind::Unix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<Address> parse_address(std::string_view text, std::string& error) {
  Address a;
  if (text.starts_with("unix:")) text.remove_prefix(5);
  if (text.starts_with("/")) {
    a.kind = Address::Kind::Unix;
    a.path = std::string(text);
    if (a.path.size() >= sizeof(sockaddr_un::sun_path)) {
      error = "socket path longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
      return std::nullopt;
    }
    return a;
  }
  a.kind = Address::Kind::Tcp;
  std::string_view host, port;
  if (text.starts_with("[")) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "expected [IPV6]:PORT";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = "expected an absolute socket path, HOST:PORT or [IPV6]:PORT";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
    error = "port must be a number from 1 to 65535";
    return std::nullopt;
  }
  a.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  a.port = value;
  in6_addr probe6;
  in_addr probe4;
  if (inet_pton(AF_INET, a.host.c_str(), &probe4) != 1 &&
      inet_pton(AF_INET6, a.host.c_str(), &probe6) != 1) {
    error = "'" + a.host + "' is not a numeric IPv4 or IPv6 address";
    return std::nullopt;
  }
  return a;
}

bool to_sockaddr(const Address& addr, sockaddr_storage& out, socklen_t& len, std::string& error) {
  std::memset(&out, 0, sizeof out);
  if (addr.kind == Address::Kind::Unix) {
    auto* un = reinterpret_cast<sockaddr_un*>(&out);
    un->sun_family = AF_UNIX;
    if (addr.path.size() >= sizeof un->sun_path) {
      error = "socket path too long: " + addr.path;
      return false;
    }
    std::memcpy(un->sun_path, addr.path.c_str(), addr.path.size() + 1);
    len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + addr.path.size() + 1);
    return true;
  }
  auto* in4 = reinterpret_cast<sockaddr_in*>(&out);
  if (inet_pton(AF_INET, addr.host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(addr.port));
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET6, addr.host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(addr.port));
    len = sizeof(sockaddr_in6);
    return true;
  }
  error = "bad address " + addr.host;
  return false;
}

}  // namespace wsgi_fpm
