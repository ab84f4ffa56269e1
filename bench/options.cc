#include "bench/options.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace wsgi_fpm::bench {
namespace {

constexpr const char* kUsage = R"(usage: wsgi-fpm-loadgen [options] ADDRESS

Sends FastCGI or SCGI requests straight to a socket and reports throughput,
latency percentiles and errors. ADDRESS: /path, unix:/path, 127.0.0.1:9000,
[::1]:9000.

  --protocol fastcgi|scgi   wire protocol (default fastcgi)
  --connections N           concurrent connections (default 1)
  --threads N               event loops, each on a thread of its own, sharing
                            the connections (default 1): a connection per
                            request costs the generator more CPU than the
                            server, so a fast server needs more than one
  --keep-alive              FastCGI: reuse connections (FCGI_KEEP_CONN); without
                            it, and always for SCGI, one connection per request
  --duration SECONDS        measure for this long (default 5); with --requests,
                            a cap on the run (default 600)
  --requests N              send exactly N requests (after the warm-up) and
                            measure them, instead of a duration
  --warmup SECONDS          send load this long first, without counting it
  --body-size BYTES         send a POST body of this size
  --method METHOD           request method (default GET, POST with a body)
  --path /x                 request path (default /)
  --param NAME=VALUE        add or replace a CGI parameter (repeatable), e.g.
                            --param SCRIPT_FILENAME=/srv/hello.php for PHP-FPM
  --json                    print one JSON object instead of text
  --print-response          send one request, print the raw response, exit
)";

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "wsgi-fpm-loadgen: %s\n", message.c_str());
  std::exit(2);
}

template <typename T>
T number(std::string_view flag, std::string_view text) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < T{})
    die(std::string(flag) + ": not a non-negative number: '" + std::string(text) + "'");
  return v;
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  bool duration_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) die(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "--protocol") {
      auto v = value();
      if (v == "fastcgi") o.protocol = Protocol::Fastcgi;
      else if (v == "scgi") o.protocol = Protocol::Scgi;
      else die("--protocol: expected fastcgi or scgi, got '" + std::string(v) + "'");
    } else if (arg == "--connections" || arg == "-c") {
      o.connections = number<int>(arg, value());
      if (o.connections < 1) die("--connections must be at least 1");
    } else if (arg == "--threads" || arg == "-t") {
      o.threads = number<int>(arg, value());
      if (o.threads < 1 || o.threads > 64) die("--threads must be between 1 and 64");
    } else if (arg == "--keep-alive") {
      o.keep_alive = true;
    } else if (arg == "--duration" || arg == "-d") {
      o.duration = number<double>(arg, value());
      duration_given = true;
    } else if (arg == "--requests" || arg == "-n") {
      o.requests = number<std::uint64_t>(arg, value());
      if (o.requests == 0) die("--requests must be at least 1");
    } else if (arg == "--warmup") {
      o.warmup = number<double>(arg, value());
    } else if (arg == "--body-size") {
      o.body_size = number<std::size_t>(arg, value());
    } else if (arg == "--method") {
      o.method = value();
    } else if (arg == "--path") {
      o.path = value();
      if (!o.path.starts_with("/")) die("--path must start with /");
    } else if (arg == "--param") {
      std::string_view v = value();
      auto eq = v.find('=');
      if (eq == std::string_view::npos || eq == 0) die("--param: expected NAME=VALUE");
      o.params.emplace_back(std::string(v.substr(0, eq)), std::string(v.substr(eq + 1)));
    } else if (arg == "--json") {
      o.json = true;
    } else if (arg == "--print-response") {
      o.print_response = true;
    } else if (arg.starts_with("-")) {
      die("unknown option " + std::string(arg) + " (see --help)");
    } else if (o.address.empty()) {
      o.address = arg;
    } else {
      die("more than one address given");
    }
  }
  if (o.address.empty()) die("no address given (see --help)");
  if (o.requests > 0 && !duration_given) o.duration = 600;
  // Every thread drives at least one connection (and sends at least one request).
  if (o.threads > o.connections) o.threads = o.connections;
  if (o.requests > 0 && o.threads > 0 && static_cast<std::uint64_t>(o.threads) > o.requests)
    o.threads = static_cast<int>(o.requests);
  if (o.duration <= 0) die("--duration must be positive");
  if (o.method.empty()) o.method = o.body_size > 0 ? "POST" : "GET";
  return o;
}

}  // namespace wsgi_fpm::bench
