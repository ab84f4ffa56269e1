// IP networks, for allowed-clients: which TCP peers may talk to a pool.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsgi_fpm {

// A client network for allowed-clients: "127.0.0.1", "10.0.0.0/8", "::1",
// "fd00::/8". A bare address is a /32 or /128.
struct Network {
  int family = 0;  // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};
  int prefix_length = 0;

  std::string str() const;
  // Whether a peer address (AF_INET or AF_INET6) lies in this network.
  // IPv4-mapped IPv6 peers (::ffff:a.b.c.d, as a dual-stack [::] listener
  // reports IPv4 clients) match IPv4 networks.
  bool contains(const struct sockaddr* peer) const;

  friend bool operator==(const Network&, const Network&) = default;
};

std::optional<Network> parse_network(std::string_view text, std::string& why);

}  // namespace wsgi_fpm
