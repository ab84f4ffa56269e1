#include "bench/probe.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bench/response.h"
#include "protocol/fastcgi.h"

namespace wsgi_fpm::bench {
namespace {

constexpr int kTimeoutMs = 30000;

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Writes `out` while reading everything the server sends until it closes the
// connection or `enough` says the response is complete. Reading while writing
// keeps a server that echoes a large body as it reads it from deadlocking.
template <typename Enough>
std::string exchange(int fd, std::string_view out, std::string& in, Enough enough) {
  char buf[65536];
  bool eof = false;
  while (!eof && !enough(in)) {
    pollfd p{fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
    int rc = ::poll(&p, 1, kTimeoutMs);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return errno_text("poll");
    if (rc == 0) return "no response within 30 s";
    if (!out.empty() && (p.revents & POLLOUT)) {
      ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR) return errno_text("write");
      if (n > 0) out.remove_prefix(static_cast<std::size_t>(n));
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR) return errno_text("read");
      if (n == 0) eof = true;
      if (n > 0) in.append(buf, static_cast<std::size_t>(n));
    }
  }
  return {};
}

// The header block's size in a CGI response: up to and including the blank line.
std::size_t cgi_head_size(const std::string& s) {
  auto crlf = s.find("\r\n\r\n");
  auto lf = s.find("\n\n");
  if (crlf == std::string::npos && lf == std::string::npos) return std::string::npos;
  if (lf == std::string::npos || (crlf != std::string::npos && crlf < lf)) return crlf + 4;
  return lf + 2;
}

}  // namespace

ProbeResult probe(const Options& options, const Target& target, const WireRequest& request) {
  ProbeResult r;
  Socket sock;
  sock.fd = ::socket(target.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock.fd < 0) {
    r.error = errno_text("socket");
    return r;
  }
  if (::connect(sock.fd, reinterpret_cast<const sockaddr*>(&target.addr), target.addr_len) != 0) {
    r.error = errno_text(("connect " + options.address).c_str());
    return r;
  }
  std::string out = request.head + request.body;
  std::string in;

  if (options.protocol == Protocol::Scgi) {
    r.error = exchange(sock.fd, out, in, [](const std::string&) { return false; });
    if (!r.error.empty()) return r;
    CgiHead fast;
    fast.feed(in.data(), in.size());
    r.output = in;
    if (!fast.complete()) {
      r.error = fast.malformed() ? "malformed CGI header block" : "response ended inside its header block";
      return r;
    }
    r.status = fast.status();
    r.body_bytes = fast.body_bytes();
    if (cgi_head_size(in) + r.body_bytes != in.size()) r.error = "decoder disagrees about the body size";
    return r;
  }

  fastcgi::ClientResponse reference;
  std::size_t fed = 0;
  r.error = exchange(sock.fd, out, in, [&](const std::string& s) {
    fed += reference.feed(std::string_view(s).substr(fed));
    return reference.done() || !reference.error().empty();
  });
  if (!r.error.empty()) return r;
  if (!reference.error().empty()) {
    r.error = reference.error();
    return r;
  }
  if (!reference.done()) {
    r.error = "connection closed before END_REQUEST";
    return r;
  }
  r.output = reference.stdout_data();
  r.errors = reference.stderr_data();

  // The same bytes through the streaming decoder, in small pieces to exercise
  // every split of a record.
  FastcgiResponse fast;
  fast.reset();
  auto result = FastcgiResponse::Result::NeedMore;
  std::size_t used = 0;
  for (std::size_t at = 0; at < fed && result == FastcgiResponse::Result::NeedMore; at += 7) {
    std::size_t n = std::min<std::size_t>(7, fed - at);
    result = fast.feed(in.data() + at, n, used);
  }
  if (result != FastcgiResponse::Result::Done) {
    r.error = std::string("streaming decoder: ") + (*fast.error() ? fast.error() : "did not see END_REQUEST");
    return r;
  }
  r.status = fast.head().status();
  r.body_bytes = fast.head().body_bytes();
  auto head = cgi_head_size(r.output);
  if (head == std::string::npos || head + r.body_bytes != r.output.size())
    r.error = "streaming decoder disagrees with ClientResponse about the body size";
  return r;
}

}  // namespace wsgi_fpm::bench
