#include "supervisor/status_report.h"

#include "fmt/format.h"
#include "util/text_escape.h"

namespace wsgi_fpm::supervisor {
namespace {

std::string human_bytes(std::uint64_t b) {
  if (b >= (1u << 30)) return fmt::format("{:.1f}G", static_cast<double>(b) / (1u << 30));
  if (b >= (1u << 20)) return fmt::format("{:.1f}M", static_cast<double>(b) / (1u << 20));
  return fmt::format("{}K", b / 1024);
}

std::string human_age(double s) {
  if (s < 120) return fmt::format("{:.0f}s", s);
  if (s < 7200) return fmt::format("{:.0f}m", s / 60);
  return fmt::format("{:.1f}h", s / 3600);
}

}  // namespace

std::string status_json(const std::vector<PoolStatus>& pools, long supervisor_pid, double uptime) {
  std::string out = fmt::format("{{\"supervisor\": {{\"pid\": {}, \"uptime\": {:.1f}}}, \"pools\": [", supervisor_pid, uptime);
  for (std::size_t i = 0; i < pools.size(); ++i) {
    const auto& p = pools[i];
    out += fmt::format(
        "{}{{\"name\": {}, \"listen\": {}, \"protocol\": {}, \"user\": {}, \"process_manager\": {}, "
        "\"processes\": {}, \"threads\": {}, \"requests\": {}, \"in_flight\": {}, \"restarts\": {}, "
        "\"last_exit\": {}, \"template\": {}, \"workers\": [",
        i ? ", " : "", json_string(p.name), json_string(p.address), json_string(p.protocol), json_string(p.user), json_string(p.process_manager),
        p.processes,
        p.threads, p.requests, p.in_flight, p.restarts, p.last_exit.empty() ? "null" : json_string(p.last_exit),
        p.template_pid ? fmt::format("{{\"pid\": {}, \"rss\": {}}}", p.template_pid, p.template_rss_bytes)
                       : std::string("null"));
    for (std::size_t j = 0; j < p.workers.size(); ++j) {
      const auto& w = p.workers[j];
      out += fmt::format(
          "{}{{\"pid\": {}, \"state\": {}, \"age\": {:.1f}, \"requests\": {}, \"busy_threads\": {}, "
          "\"rss\": {}, \"in_flight\": [",
          j ? ", " : "", w.pid, json_string(w.state), w.age_seconds, w.requests, w.busy_threads, w.rss_bytes);
      for (std::size_t k = 0; k < w.in_flight.size(); ++k) {
        out += fmt::format("{}{{\"url\": {}, \"seconds\": {:.3f}}}", k ? ", " : "", json_string(w.in_flight[k].url),
                           w.in_flight[k].seconds);
      }
      out += "]}";
    }
    out += "]}";
  }
  return out + "]}\n";
}

std::string status_text(const std::vector<PoolStatus>& pools, long supervisor_pid, double uptime) {
  std::string out = fmt::format("wsgi-fpm supervisor pid {}, up {}, {} pool{}\n", supervisor_pid,
                                human_age(uptime), pools.size(), pools.size() == 1 ? "" : "s");
  for (const auto& p : pools) {
    bool fixed = p.process_manager == "static" || p.process_manager.empty();
    out += fmt::format("\npool {}: {} ({}), user {}, {}{} process{} x {} thread{}{}\n", p.name, p.address,
                       p.protocol, p.user, fixed ? "" : "up to ", p.processes, p.processes == 1 ? "" : "es",
                       p.threads, p.threads == 1 ? "" : "s", fixed ? "" : ", " + p.process_manager);
    out += fmt::format("  requests {}, in flight {}, restarts {}, last exit: {}\n", p.requests, p.in_flight,
                       p.restarts, p.last_exit.empty() ? "-" : printable(p.last_exit));
    if (p.template_pid)
      out += fmt::format("  preload-fork template pid {}, RSS {}\n", p.template_pid, human_bytes(p.template_rss_bytes));
    out += fmt::format("  {:>8}  {:<9} {:>6} {:>9} {:>5} {:>8}\n", "PID", "STATE", "AGE", "REQUESTS", "BUSY", "RSS");
    for (const auto& w : p.workers) {
      out += fmt::format("  {:>8}  {:<9} {:>6} {:>9} {:>5} {:>8}\n", w.pid, w.state, human_age(w.age_seconds),
                         w.requests, w.busy_threads, human_bytes(w.rss_bytes));
      for (const auto& r : w.in_flight) out += fmt::format("            {:>8.3f}s  {}\n", r.seconds, printable(r.url));
    }
  }
  return out;
}

}  // namespace wsgi_fpm::supervisor
