// Listening and connecting addresses: a UNIX socket path, or IPv4/IPv6 + port.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace wsgi_fpm {

struct Address {
  enum class Kind { Unix, Tcp };
  Kind kind = Kind::Unix;
  std::string path;  // Unix
  std::string host;  // Tcp: numeric IPv4 or IPv6, without brackets
  int port = 0;      // Tcp

  std::string str() const;  // as a user would write it back
};

// "/run/x.sock", "unix:/run/x.sock", "127.0.0.1:9000", "[::1]:9000", "localhost:9000".
// nullopt with `error` set when the text is none of these.
std::optional<Address> parse_address(std::string_view text, std::string& error);

// The sockaddr for `addr`; false with `error` set (path too long, bad host).
bool to_sockaddr(const Address& addr, sockaddr_storage& out, socklen_t& len, std::string& error);

}  // namespace wsgi_fpm
