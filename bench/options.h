// Command line of the load generator.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace wsgi_fpm::bench {

enum class Protocol { Fastcgi, Scgi };

struct Options {
  std::string address;  // /path, unix:/path, 127.0.0.1:9000, [::1]:9000
  Protocol protocol = Protocol::Fastcgi;
  int connections = 1;
  int threads = 1;              // event loops, each on its own thread, sharing the connections
  bool keep_alive = false;
  double duration = 5;          // seconds of measurement (with --requests: a cap, 600 by default)
  std::uint64_t requests = 0;   // 0: bounded by duration only
  double warmup = 0;            // seconds before measurement, not counted
  std::size_t body_size = 0;    // POST body bytes; 0 means GET
  std::string path = "/";
  std::string method;           // empty: GET, or POST when there is a body
  std::vector<std::pair<std::string, std::string>> params;  // --param NAME=VALUE
  bool json = false;
  bool print_response = false;  // send one request, print the response, exit
};

// Parses argv; on --help prints usage and exits 0, on an error prints it and
// exits 2.
Options parse_options(int argc, char** argv);

}  // namespace wsgi_fpm::bench
