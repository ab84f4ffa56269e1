// wsgi-fpm request: a FastCGI/SCGI client that sends what a frontend would
// and prints the raw CGI response, so an operator can test a pool without
// any web server in front of it.
#include <grp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "protocol/fastcgi.h"
#include "protocol/scgi.h"
#include "util/address.h"
#include "util/socket.h"
#include "util/users.h"

namespace wsgi_fpm::cli {
namespace {

constexpr const char* kUsage = R"(usage: wsgi-fpm request ADDR [PATH] [options]

Sends one request to a FastCGI or SCGI socket and prints the response
(status line, headers, body) as the backend sent it.

  ADDR                 /path.sock, unix:/path.sock, 127.0.0.1:9000 or [::1]:9000
  PATH                 the request path and query (default /)
  --protocol P         fastcgi (default) or scgi
  --method M           request method (default GET, or POST with --data)
  --header 'N: V'      a request header (repeatable), sent as HTTP_N
  --data TEXT|@FILE    the request body
  --param NAME=VALUE   a raw CGI parameter (repeatable; overrides the defaults)
  --as-user USER       connect with USER's uid and gids, as a frontend running
                       as USER would (root only)
  --timeout SECONDS    give up on a silent backend after this long (default 60)
)";

bool read_all(int fd, std::string& out) {
  char buf[65536];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool become(const std::string& name, std::string& error) {
  auto user = find_user(name);
  if (!user) {
    error = "--as-user: no such user '" + name + "'";
    return false;
  }
  auto groups = groups_of(*user);
  if (setgroups(groups.size(), groups.data()) != 0 || setgid(user->gid) != 0 || setuid(user->uid) != 0) {
    error = "--as-user " + name + ": " + std::strerror(errno) + " (root only)";
    return false;
  }
  return true;
}

}  // namespace

int request_command(int argc, char** argv) {
  std::vector<std::string> positional;
  std::string protocol = "fastcgi", method, data, as_user, timeout_text = "60";
  bool have_data = false;
  protocol::Params extra, headers;
  Arguments args("request", kUsage);
  args.option("--protocol", &protocol).option("--method", &method).option("--as-user", &as_user);
  args.option("--timeout", &timeout_text);
  args.each("--data", [&](const std::string& value) -> std::string {
    data = value;
    have_data = true;
    if (!data.starts_with("@")) return {};
    std::ifstream in(data.substr(1), std::ios::binary);
    if (!in) return "cannot read " + data.substr(1);
    std::stringstream s;
    s << in.rdbuf();
    data = s.str();
    return {};
  });
  args.each("--header", [&](const std::string& h) -> std::string {
    auto colon = h.find(':');
    if (colon == std::string::npos) return "wants 'Name: value', got '" + h + "'";
    std::string name = "HTTP_";
    for (char c : h.substr(0, colon)) name.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
    auto v = h.substr(colon + 1);
    v.erase(0, v.find_first_not_of(' '));
    if (name == "HTTP_CONTENT_TYPE") name = "CONTENT_TYPE";
    headers.set(name, v);
    return {};
  });
  args.each("--param", [&](const std::string& p) -> std::string {
    auto eq = p.find('=');
    if (eq == std::string::npos) return "wants NAME=VALUE, got '" + p + "'";
    extra.set(p.substr(0, eq), p.substr(eq + 1));
    return {};
  });
  args.positional(&positional, 2);
  if (int status = args.parse(argc, argv); status >= 0) return status;
  if (positional.empty()) return args.usage_error("which address? (ADDR is needed)");
  int timeout_seconds = std::atoi(timeout_text.c_str());
  if (timeout_seconds <= 0) return args.usage_error("--timeout must be a positive number of seconds");
  if (protocol != "fastcgi" && protocol != "scgi") {
    std::cerr << "wsgi-fpm request: --protocol must be fastcgi or scgi\n";
    return 2;
  }
  std::string error;
  auto addr = parse_address(positional[0], error);
  if (!addr) {
    std::cerr << "wsgi-fpm request: " << positional[0] << ": " << error << "\n";
    return 2;
  }
  std::string uri = positional.size() > 1 ? positional[1] : "/";
  if (method.empty()) method = have_data ? "POST" : "GET";
  auto q = uri.find('?');
  std::string path = uri.substr(0, q);
  std::string query = q == std::string::npos ? "" : uri.substr(q + 1);

  protocol::Params params;
  params.add("GATEWAY_INTERFACE", "CGI/1.1");
  params.add("SERVER_SOFTWARE", "wsgi-fpm-request");
  params.add("REQUEST_METHOD", method);
  params.add("REQUEST_URI", uri);
  params.add("SCRIPT_NAME", "");
  params.add("PATH_INFO", path);
  params.add("QUERY_STRING", query);
  params.add("SERVER_NAME", "localhost");
  params.add("SERVER_PORT", "80");
  params.add("SERVER_PROTOCOL", "HTTP/1.1");
  params.add("REMOTE_ADDR", "127.0.0.1");
  params.add("REMOTE_PORT", "0");
  params.add("CONTENT_LENGTH", have_data ? std::to_string(data.size()) : "");
  params.add("HTTP_HOST", "localhost");
  for (const auto h : headers) params.set(h.name, h.value);
  for (const auto p : extra) params.set(p.name, p.value);

  if (!as_user.empty() && !become(as_user, error)) {
    std::cerr << "wsgi-fpm request: " << error << "\n";
    return 1;
  }
  UniqueFd fd = connect_to(*addr, error);
  if (!fd) {
    std::cerr << "wsgi-fpm request: " << error << "\n";
    return 1;
  }
  timeval tv{timeout_seconds, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string request = protocol == "scgi"
                            ? scgi::encode_request_head(params, data.size()) + data
                            : fastcgi::encode_request(1, params, data, false);
  if (!send_all(fd.get(), request)) {
    std::cerr << "wsgi-fpm request: sending the request failed: " << std::strerror(errno) << "\n";
    return 1;
  }
  std::string raw;
  if (!read_all(fd.get(), raw)) {
    std::cerr << "wsgi-fpm request: reading the response failed: "
              << (errno == EAGAIN ? "no answer within --timeout" : std::strerror(errno)) << "\n";
    return 1;
  }
  if (protocol == "scgi") {
    if (raw.empty()) {
      std::cerr << "wsgi-fpm request: the backend closed the connection without a response\n";
      return 1;
    }
    std::cout << raw << std::flush;
    return 0;
  }
  fastcgi::ClientResponse response;
  response.feed(raw);
  if (!response.error().empty()) {
    std::cerr << "wsgi-fpm request: " << response.error() << "\n";
    return 1;
  }
  if (!response.stderr_data().empty()) std::cerr << response.stderr_data();
  std::cout << response.stdout_data() << std::flush;
  if (!response.done()) {
    std::cerr << "wsgi-fpm request: the backend closed the connection before END_REQUEST\n";
    return 1;
  }
  return 0;
}

}  // namespace wsgi_fpm::cli
