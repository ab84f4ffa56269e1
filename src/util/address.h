// Listening and connecting addresses: a UNIX socket path, or IPv4/IPv6 + port,
// spelled the same way everywhere (the config's `listen`, `serve --listen`,
// `request ADDR`). Pure parsing; util/socket turns one into a socket.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace wsgi_fpm {

struct Address {
  enum class Kind { Unix, Tcp };
  Kind kind = Kind::Unix;
  std::string path;  // Unix: absolute path of the socket file
  std::string host;  // Tcp: canonical numeric address without brackets, e.g. "::1"
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

// Accepts "/abs/path", "unix:/abs/path", "IPV4:PORT", "[IPV6]:PORT" and
// "localhost:PORT" (as 127.0.0.1), numeric hosts otherwise: nothing is
// resolved. On failure returns nullopt and sets `why` to a message that
// completes "invalid listen address 'X': ".
std::optional<Address> parse_address(std::string_view text, std::string& why);

// The sockaddr for `addr`; false with `error` set (path too long, bad host).
bool to_sockaddr(const Address& addr, sockaddr_storage& out, socklen_t& len, std::string& error);

}  // namespace wsgi_fpm
