// Listening addresses and client networks as the config spells them. Pure
// parsing, no sockets: the supervisor turns an Address into a bound socket,
// and the `serve` and `request` commands reuse the same spelling.
#pragma once

#include "util/network.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;

namespace wsgi_fpm::config {

struct Address {
  enum class Kind { Unix, Tcp };
  Kind kind = Kind::Unix;
  std::string path;  // Unix: absolute path of the socket file
  std::string host;  // Tcp: numeric address without brackets, e.g. "::1"
  std::uint16_t port = 0;
  bool ipv6 = false;

  bool is_unix() const { return kind == Kind::Unix; }
  bool is_tcp() const { return kind == Kind::Tcp; }
  // "/run/x.sock", "127.0.0.1:9001" or "[::1]:9001": parse_address() reads it back.
  std::string str() const;
  // True if binding both would collide: the same path, or the same port on the
  // same host or on a wildcard host (0.0.0.0 and :: take the port on every address).
  bool conflicts_with(const Address& other) const;

  friend bool operator==(const Address&, const Address&) = default;
};

// Accepts "/abs/path", "unix:/abs/path", "IPV4:PORT" and "[IPV6]:PORT", with
// numeric hosts only (no name resolution at config time). On failure returns
// nullopt and sets `why` to a message that completes "invalid listen address 'X': ".
std::optional<Address> parse_address(std::string_view text, std::string& why);

// allowed-clients networks live in util/network.h (the worker checks them too).
using wsgi_fpm::Network;
using wsgi_fpm::parse_network;

}  // namespace wsgi_fpm::config
