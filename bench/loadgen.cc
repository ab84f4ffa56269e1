// wsgi-fpm-loadgen: a FastCGI/SCGI load generator for the benchmark. It talks
// to the application server directly, with no web server in between, so what
// it measures is the server alone. See docs/benchmarks.md.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench/generator.h"
#include "bench/options.h"
#include "bench/probe.h"
#include "protocol/fastcgi.h"
#include "protocol/scgi.h"
#include "util/address.h"

namespace wsgi_fpm::bench {
namespace {

// The parameters nginx's stock fastcgi_params sends, for an app mounted at /.
protocol::Params request_params(const Options& o) {
  std::string path = o.path, query;
  if (auto q = path.find('?'); q != std::string::npos) {
    query = path.substr(q + 1);
    path.resize(q);
  }
  protocol::Params p;
  p.add("QUERY_STRING", query);
  p.add("REQUEST_METHOD", o.method);
  p.add("CONTENT_TYPE", o.body_size > 0 ? "application/octet-stream" : "");
  p.add("CONTENT_LENGTH", o.body_size > 0 ? std::to_string(o.body_size) : "");
  p.add("SCRIPT_NAME", "");
  p.add("PATH_INFO", path);
  p.add("REQUEST_URI", o.path);
  p.add("DOCUMENT_URI", path);
  p.add("DOCUMENT_ROOT", "/var/www");
  p.add("SERVER_PROTOCOL", "HTTP/1.1");
  p.add("REQUEST_SCHEME", "http");
  p.add("GATEWAY_INTERFACE", "CGI/1.1");
  p.add("SERVER_SOFTWARE", "wsgi-fpm-loadgen");
  p.add("REMOTE_ADDR", "127.0.0.1");
  p.add("REMOTE_PORT", "40000");
  p.add("SERVER_ADDR", "127.0.0.1");
  p.add("SERVER_PORT", "80");
  p.add("SERVER_NAME", "localhost");
  p.add("HTTP_HOST", "localhost");
  p.add("HTTP_USER_AGENT", "wsgi-fpm-loadgen");
  p.add("HTTP_ACCEPT", "*/*");
  for (const auto& [name, value] : o.params) p.set(name, value);
  return p;
}

WireRequest encode(const Options& o, const protocol::Params& params, bool keep_connection) {
  WireRequest w;
  std::string body(o.body_size, 'x');
  if (o.protocol == Protocol::Fastcgi) {
    w.head = fastcgi::encode_request(1, params, body, keep_connection);
  } else {
    w.head = scgi::encode_request_head(params, body.size());
    w.body = std::move(body);
  }
  return w;
}

Target resolve(const std::string& text) {
  std::string error;
  auto addr = parse_address(text, error);
  Target t;
  if (!addr || !to_sockaddr(*addr, t.addr, t.addr_len, error)) {
    std::fprintf(stderr, "wsgi-fpm-loadgen: %s: %s\n", text.c_str(), error.c_str());
    std::exit(2);
  }
  t.is_unix = addr->kind == Address::Kind::Unix;
  t.path = addr->path;
  return t;
}

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

void print_text(const Options& o, const Stats& s) {
  double rps = s.elapsed > 0 ? static_cast<double>(s.responses) / s.elapsed : 0;
  std::printf("%s %s, %d connection%s on %d thread%s%s, %s %s%s\n",
              o.protocol == Protocol::Fastcgi ? "fastcgi" : "scgi", o.address.c_str(), o.connections,
              o.connections == 1 ? "" : "s", o.threads, o.threads == 1 ? "" : "s",
              o.keep_alive && o.protocol == Protocol::Fastcgi ? ", keep-alive" : ", connection per request",
              o.method.c_str(), o.path.c_str(),
              o.body_size ? (", body " + std::to_string(o.body_size) + " B").c_str() : "");
  std::printf("  requests   %llu in %.2f s = %.1f req/s\n", static_cast<unsigned long long>(s.responses),
              s.elapsed, rps);
  const auto& h = s.latency;
  std::printf("  latency    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms\n",
              ms(h.percentile(0.5)), ms(h.percentile(0.9)), ms(h.percentile(0.99)), ms(h.percentile(0.999)),
              ms(h.max()), h.mean() / 1e6);
  std::printf("  received   %.2f MB (bodies %.2f MB)\n", static_cast<double>(s.bytes_read) / 1e6,
              static_cast<double>(s.body_bytes) / 1e6);
  std::printf("  errors     %llu (connect %llu, i/o %llu, protocol %llu, non-200 %llu)\n",
              static_cast<unsigned long long>(s.errors()), static_cast<unsigned long long>(s.connect_errors),
              static_cast<unsigned long long>(s.io_errors), static_cast<unsigned long long>(s.protocol_errors),
              static_cast<unsigned long long>(s.status_errors));
  for (std::size_t code = 0; code < s.by_status.size(); ++code) {
    if (code != 200 && s.by_status[code] != 0)
      std::printf("             status %zu: %llu\n", code, static_cast<unsigned long long>(s.by_status[code]));
  }
  for (const auto* e : {&s.first_connect_error, &s.first_io_error, &s.first_protocol_error}) {
    if (!e->empty()) std::printf("             first: %s\n", e->c_str());
  }
  double cpu = s.cpu_user + s.cpu_system;
  std::printf("  loadgen    %.0f%% of one core, all threads (user %.2f s, system %.2f s)\n",
              s.elapsed > 0 ? 100 * cpu / s.elapsed : 0, s.cpu_user, s.cpu_system);
}

// JSON strings here are error messages and options: escape quotes, backslashes, controls.
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

void print_json(const Options& o, const Stats& s) {
  double us = 1e3;
  const auto& h = s.latency;
  std::printf("{\"protocol\":\"%s\",\"address\":%s,\"connections\":%d,\"threads\":%d,\"keep_alive\":%s,"
              "\"method\":%s,\"path\":%s,\"body_size\":%zu,",
              o.protocol == Protocol::Fastcgi ? "fastcgi" : "scgi", json_string(o.address).c_str(), o.connections,
              o.threads,
              o.keep_alive && o.protocol == Protocol::Fastcgi ? "true" : "false", json_string(o.method).c_str(),
              json_string(o.path).c_str(), o.body_size);
  std::printf("\"duration\":%.6f,\"requests\":%llu,\"ok\":%llu,\"requests_per_second\":%.3f,", s.elapsed,
              static_cast<unsigned long long>(s.responses), static_cast<unsigned long long>(s.ok),
              s.elapsed > 0 ? static_cast<double>(s.responses) / s.elapsed : 0);
  std::printf("\"latency_us\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p99_9\":%.3f,\"max\":%.3f,\"min\":%.3f,"
              "\"mean\":%.3f},",
              static_cast<double>(h.percentile(0.5)) / us, static_cast<double>(h.percentile(0.9)) / us,
              static_cast<double>(h.percentile(0.99)) / us, static_cast<double>(h.percentile(0.999)) / us,
              static_cast<double>(h.max()) / us, static_cast<double>(h.min()) / us, h.mean() / us);
  std::printf("\"bytes_received\":%llu,\"body_bytes\":%llu,", static_cast<unsigned long long>(s.bytes_read),
              static_cast<unsigned long long>(s.body_bytes));
  std::printf("\"errors\":{\"total\":%llu,\"connect\":%llu,\"io\":%llu,\"protocol\":%llu,\"status\":%llu},",
              static_cast<unsigned long long>(s.errors()), static_cast<unsigned long long>(s.connect_errors),
              static_cast<unsigned long long>(s.io_errors), static_cast<unsigned long long>(s.protocol_errors),
              static_cast<unsigned long long>(s.status_errors));
  std::printf("\"statuses\":{");
  bool first = true;
  for (std::size_t code = 0; code < s.by_status.size(); ++code) {
    if (s.by_status[code] == 0) continue;
    std::printf("%s\"%zu\":%llu", first ? "" : ",", code, static_cast<unsigned long long>(s.by_status[code]));
    first = false;
  }
  std::printf("},\"first_errors\":[");
  first = true;
  for (const auto* e : {&s.first_connect_error, &s.first_io_error, &s.first_protocol_error}) {
    if (e->empty()) continue;
    std::printf("%s%s", first ? "" : ",", json_string(*e).c_str());
    first = false;
  }
  std::printf("],\"in_flight_at_end\":%llu,\"loadgen_cpu_seconds\":{\"user\":%.3f,\"system\":%.3f}}\n",
              static_cast<unsigned long long>(s.in_flight_at_end), s.cpu_user, s.cpu_system);
}

int main_(int argc, char** argv) {
  // A server closing a connection mid-write must be an EPIPE error, not our death.
  std::signal(SIGPIPE, SIG_IGN);
  Options o = parse_options(argc, argv);
  Target target = resolve(o.address);
  protocol::Params params = request_params(o);

  ProbeResult pr = probe(o, target, encode(o, params, false));
  if (o.print_response) {
    std::fwrite(pr.output.data(), 1, pr.output.size(), stdout);
    std::fwrite(pr.errors.data(), 1, pr.errors.size(), stderr);
    if (!pr.error.empty()) std::fprintf(stderr, "wsgi-fpm-loadgen: %s\n", pr.error.c_str());
    return pr.error.empty() && pr.status == 200 ? 0 : 1;
  }
  if (!pr.error.empty()) {
    std::fprintf(stderr, "wsgi-fpm-loadgen: probe request failed: %s\n", pr.error.c_str());
    return 1;
  }
  if (pr.status != 200)
    std::fprintf(stderr, "wsgi-fpm-loadgen: warning: the probe request got status %d\n", pr.status);

  WireRequest wire = encode(o, params, o.keep_alive);
  Stats stats = run_load(o, target, wire);
  if (o.json) print_json(o, stats);
  else print_text(o, stats);
  return 0;
}

}  // namespace
}  // namespace wsgi_fpm::bench

int main(int argc, char** argv) { return wsgi_fpm::bench::main_(argc, argv); }
