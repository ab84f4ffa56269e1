// The load generator's engine: a libuv loop (one per thread) driving N connections, each
// sending the same pre-encoded request again and again. Nothing in the
// per-request path allocates: connections, buffers and write requests are made
// once, and responses are decoded as they stream by (bench/response.h).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/histogram.h"
#include "bench/options.h"

namespace wsgi_fpm::bench {

// Where to connect: a UNIX socket path or a TCP sockaddr.
struct Target {
  bool is_unix = true;
  std::string path;
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
};

// The bytes of one request. For FastCGI `head` holds the whole request and
// `body` is empty; for SCGI `head` is the netstring and `body` follows it.
struct WireRequest {
  std::string head;
  std::string body;
};

struct Stats {
  Histogram latency;  // nanoseconds, successful and non-200 responses alike
  std::uint64_t responses = 0;
  std::uint64_t ok = 0;  // status 200
  std::uint64_t bytes_read = 0;  // everything read from the sockets
  std::uint64_t body_bytes = 0;  // response bodies, after the CGI headers
  std::uint64_t connect_errors = 0;
  std::uint64_t io_errors = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t status_errors = 0;  // responses with a status other than 200
  std::array<std::uint64_t, 600> by_status{};
  std::string first_connect_error, first_io_error, first_protocol_error;
  double elapsed = 0;    // seconds of measurement
  double cpu_user = 0;   // the generator's own CPU seconds during measurement
  double cpu_system = 0;
  std::uint64_t in_flight_at_end = 0;

  std::uint64_t errors() const { return connect_errors + io_errors + protocol_errors + status_errors; }
  void clear() { *this = Stats(); }
  // Adds another thread's: counts and CPU add up, the run lasted as long as the longest.
  void merge(const Stats& other);
};

// Runs the whole load (warm-up, then measurement) and returns what was
// measured: on options.threads threads, each with its own libuv loop and its
// share of the connections (and of --requests), measured together.
Stats run_load(const Options& options, const Target& target, const WireRequest& request);

}  // namespace wsgi_fpm::bench
