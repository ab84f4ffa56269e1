#include "util/network.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

#include <fmt/core.h>

namespace wsgi_fpm {

std::string Network::str() const {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family, bytes.data(), text, sizeof text);
  return fmt::format("{}/{}", text, prefix_length);
}

bool Network::contains(const struct sockaddr* peer) const {
  const std::uint8_t* addr = nullptr;
  if (peer->sa_family == AF_INET && family == AF_INET) {
    addr = reinterpret_cast<const std::uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(peer)->sin_addr);
  } else if (peer->sa_family == AF_INET6) {
    const auto* in6 = &reinterpret_cast<const sockaddr_in6*>(peer)->sin6_addr;
    if (family == AF_INET6) {
      addr = in6->s6_addr;
    } else if (IN6_IS_ADDR_V4MAPPED(in6)) {
      addr = in6->s6_addr + 12;  // the embedded IPv4 address
    }
  }
  if (!addr) return false;
  int full = prefix_length / 8;
  if (std::memcmp(addr, bytes.data(), full) != 0) return false;
  int rest = prefix_length % 8;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (addr[full] & mask) == (bytes[full] & mask);
}

std::optional<Network> parse_network(std::string_view text, std::string& why) {
  auto slash = text.find('/');
  std::string host(text.substr(0, slash));
  Network n;
  n.family = host.find(':') == std::string::npos ? AF_INET : AF_INET6;
  if (inet_pton(n.family, host.c_str(), n.bytes.data()) != 1) {
    why = "expected an IP address or a network such as 10.0.0.0/8 or fd00::/8";
    return std::nullopt;
  }
  int max_prefix = n.family == AF_INET ? 32 : 128;
  n.prefix_length = max_prefix;
  if (slash != std::string_view::npos) {
    auto bits = text.substr(slash + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
    if (bits.empty() || ec != std::errc() || end != bits.data() + bits.size() || value < 0 ||
        value > max_prefix) {
      why = fmt::format("prefix length must be a number from 0 to {}", max_prefix);
      return std::nullopt;
    }
    n.prefix_length = value;
  }
  // Clear host bits so that str() and == see 10.1.2.3/8 as 10.0.0.0/8.
  for (int bit = n.prefix_length; bit < max_prefix; ++bit) {
    n.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  }
  return n;
}

}  // namespace wsgi_fpm
