// One request sent before the load, on a plain blocking socket, decoded by the
// project's reference codec (protocol::fastcgi::ClientResponse) and by the
// generator's streaming decoder. It proves the server answers, and that the
// fast decoder agrees with the reference about status and body size.
#pragma once

#include <cstdint>
#include <string>

#include "bench/generator.h"
#include "bench/options.h"

namespace wsgi_fpm::bench {

struct ProbeResult {
  std::string error;   // non-empty: the probe failed (connect, I/O, protocol, disagreement)
  int status = 0;
  std::uint64_t body_bytes = 0;
  std::string output;  // FastCGI STDOUT, or the whole SCGI response
  std::string errors;  // FastCGI STDERR
};

// `request` must not ask to keep the connection: the probe reads until the end.
ProbeResult probe(const Options& options, const Target& target, const WireRequest& request);

}  // namespace wsgi_fpm::bench
