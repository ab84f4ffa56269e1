// The pool settings a worker runs with as the configuration gives them,
// described once: the YAML key (also the worker's `--KEY`), the member, how
// it is spelled and its bounds, and, as the member's initializer, its
// default. The configuration reader (config/pool_reader.cc), the worker's
// command line both ways (worker/options.cc) and the man page check
// (tests/unit/test_config.cc) all go through kWorkerSettings, and
// config::Pool and worker::WorkerOptions both derive from WorkerSettings.
//
// To add such a key: a member here, its row below, the man page entry, and
// the code that uses it. Settings that the supervisor turns into something
// else (a user to a uid, an address, client networks, the home directory
// that defaults to the user's) are read by hand in pool_reader.cc.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "wsgi_fpm/scoreboard.h"

namespace wsgi_fpm {

struct WorkerSettings {
  int threads = 15;  // request threads per process
  std::uint64_t stack_size = 0;            // request threads' stack, bytes; 0: the system's
  std::string display_name = "%{GROUP}";   // the process title; %{GROUP} is "(wsgi:POOL)"
  // Python.
  std::vector<std::string> python_path;    // added with site.addsitedir, as mod_wsgi does
  double switch_interval = 0.005;          // sys.setswitchinterval, seconds (Python's default)
  // Requests.
  std::uint64_t limit_request_body = 0;        // bytes; 0: unlimited
  std::uint64_t request_header_limit = 65536;  // bytes of request parameters
  std::uint64_t header_buffer_size = 32768;    // bytes of response headers
  int maximum_connections = 512;               // open per process; over it the longest idle closes
  // Timeouts, seconds (0: off unless noted).
  int socket_timeout = 60;        // never 0
  int request_read_timeout = 10;  // a request head's arrival; never 0
  int queue_timeout = 45;
  int request_timeout = 60;    // scaled by 1 + ln(threads)
  int interrupt_timeout = 0;   // 0: replace the process instead of raising RequestTimeout
  int graceful_timeout = 15;   // drain time on SIGTERM
  int eviction_timeout = 0;    // drain time on SIGUSR2 (a graceful restart); 0: graceful-timeout
  int shutdown_timeout = 5;
  int deadlock_timeout = 60;   // a thread takes the GIL every second to show it can
  // Recycling and limits (0: none).
  int maximum_requests = 0;
  std::uint64_t memory_limit = 0;          // RLIMIT_DATA, bytes
  std::uint64_t virtual_memory_limit = 0;  // RLIMIT_AS, bytes
  int cpu_time_limit = 0;                  // RLIMIT_CPU, seconds
  int cpu_priority = 0;                    // nice value

  // How long requests may finish when the process is evicted (SIGUSR2).
  int eviction_seconds() const { return eviction_timeout ? eviction_timeout : graceful_timeout; }

  friend bool operator==(const WorkerSettings&, const WorkerSettings&) = default;
};

// One WSGI application of a pool (WSGIScriptAlias + WSGICallableObject +
// WSGIApplicationGroup), as both the configuration and the worker hold it.
// Its keys sit under a pool's `apps`, and a pool may hold several, so the
// reader (config/app_reader.cc) and the command line (--app-*) take them by
// hand.
struct AppSettings {
  std::string mount = "/";                        // URL prefix; no trailing '/' but the root's
  std::string script;                             // absolute path (required)
  std::string callable = "application";
  std::string application_group = "%{RESOURCE}";  // mod_wsgi's pattern, see worker/application_group.h
  bool preload = false;  // import at process start (fixed groups only), as WSGIImportScript
  bool own_gil = false;  // its group's sub-interpreter has a GIL of its own (Python 3.12+)

  friend bool operator==(const AppSettings&, const AppSettings&) = default;
};

// One row: a key, its member, and the codec of its kind. The text form
// (text_of / set_from_text) is the worker's command line; YAML has richer
// spellings (sizes with K, M, G; lists) that config/pool_reader.cc reads per
// kind into the same member.
struct WorkerSetting {
  enum class Kind {
    Seconds,  // int: a whole number of seconds
    Count,    // int
    Bytes,    // std::uint64_t: a size, with K, M, G suffixes in YAML
    Real,     // double
    Text,     // std::string, never empty in YAML
    List,     // std::vector<std::string>: a YAML list or one string split at `separator`
  };
  using S = WorkerSettings;
  using Member = std::variant<int S::*, std::uint64_t S::*, double S::*, std::string S::*,
                              std::vector<std::string> S::*>;

  std::string_view key;
  Kind kind;
  Member member;
  // Seconds, Count, Bytes: min <= value <= max. Real: min < value <= max.
  std::int64_t min = 0;
  std::int64_t max = 0;
  // Bytes: if not 0, a value is 0 (meaning `zero_means`) or at least this.
  std::int64_t zero_or_at_least = 0;
  std::string_view zero_means;
  char separator = 0;  // List: between items, in YAML's one-string form and on the command line

  bool in_bounds(std::int64_t v) const {
    if (zero_or_at_least && v != 0 && v < zero_or_at_least) return false;
    return v >= min && v <= max;
  }
  bool in_bounds(double v) const { return v > static_cast<double>(min) && v <= static_cast<double>(max); }

  // The value as the worker's command line spells it.
  std::string text_of(const WorkerSettings& s) const {
    return std::visit(
        [&](auto m) -> std::string {
          using T = std::remove_cvref_t<decltype(s.*m)>;
          if constexpr (std::is_same_v<T, std::string>) {
            return s.*m;
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            std::string joined;
            for (const auto& item : s.*m) joined += (joined.empty() ? "" : std::string(1, separator)) + item;
            return joined;
          } else {
            char buf[64];  // to_chars: shortest round-trip text, no locale
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, s.*m);
            return ec == std::errc() ? std::string(buf, end) : std::string();
          }
        },
        member);
  }

  // Reads `text` into the member; false if it is not of this kind or out of
  // the row's bounds. (No <sstream>: the worker links statically, see
  // src/meson.build.)
  bool set_from_text(std::string_view text, WorkerSettings& s) const {
    return std::visit(
        [&](auto m) -> bool {
          using T = std::remove_cvref_t<decltype(s.*m)>;
          if constexpr (std::is_same_v<T, std::string>) {
            s.*m = std::string(text);
            return true;
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            (s.*m).clear();
            for (std::size_t start = 0; start <= text.size();) {
              std::size_t stop = std::min(text.find(separator, start), text.size());
              if (stop > start) (s.*m).emplace_back(text.substr(start, stop - start));
              start = stop + 1;
            }
            return true;
          } else {
            T value{};
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (ec != std::errc() || end != text.data() + text.size()) return false;
            if constexpr (std::is_floating_point_v<T>) {
              if (!in_bounds(value)) return false;
            } else {
              // Every bound fits an int64 (bytes' maximum is INT64_MAX).
              if (std::is_unsigned_v<T> && value > static_cast<T>(std::numeric_limits<std::int64_t>::max()))
                return false;
              if (!in_bounds(static_cast<std::int64_t>(value))) return false;
            }
            s.*m = value;
            return true;
          }
        },
        member);
  }
};

namespace worker_settings_detail {
using S = WorkerSettings;
using Kind = WorkerSetting::Kind;
constexpr std::int64_t kYear = 365 * 24 * 3600;  // a timeout longer than this is a typo
constexpr std::int64_t kMaxBytes = std::numeric_limits<std::int64_t>::max();
constexpr WorkerSetting seconds(std::string_view key, int S::*m, std::int64_t min = 0) {
  return {key, Kind::Seconds, m, min, kYear};
}
constexpr WorkerSetting count(std::string_view key, int S::*m, std::int64_t min, std::int64_t max) {
  return {key, Kind::Count, m, min, max};
}
constexpr WorkerSetting bytes(std::string_view key, std::uint64_t S::*m, std::int64_t min, std::int64_t max) {
  return {key, Kind::Bytes, m, min, max};
}
constexpr WorkerSetting bytes_or_zero(std::string_view key, std::uint64_t S::*m, std::int64_t at_least,
                                      std::int64_t max, std::string_view zero_means) {
  return {key, Kind::Bytes, m, 0, max, at_least, zero_means};
}
constexpr WorkerSetting real(std::string_view key, double S::*m, std::int64_t min_exclusive, std::int64_t max) {
  return {key, Kind::Real, m, min_exclusive, max};
}
constexpr WorkerSetting text(std::string_view key, std::string S::*m) { return {key, Kind::Text, m}; }
constexpr WorkerSetting list(std::string_view key, std::vector<std::string> S::*m, char separator) {
  return {key, Kind::List, m, 0, 0, 0, {}, separator};
}
}  // namespace worker_settings_detail

inline constexpr auto kWorkerSettings = [] {
  using namespace worker_settings_detail;
  return std::array{
      count("threads", &S::threads, 1, static_cast<std::int64_t>(kScoreboardThreads)),  // a slot each
      // Below PTHREAD_STACK_MIN, pthread_attr_setstacksize fails.
      bytes_or_zero("stack-size", &S::stack_size, 16384, 1ll << 30, "the system default"),
      text("display-name", &S::display_name),
      list("python-path", &S::python_path, ':'),
      real("switch-interval", &S::switch_interval, 0, 60),
      bytes("limit-request-body", &S::limit_request_body, 0, kMaxBytes),
      bytes("request-header-limit", &S::request_header_limit, 4096, 64ll << 20),
      bytes("header-buffer-size", &S::header_buffer_size, 4096, 64ll << 20),
      count("maximum-connections", &S::maximum_connections, 1, 65536),
      seconds("socket-timeout", &S::socket_timeout, 1),
      seconds("request-read-timeout", &S::request_read_timeout, 1),
      seconds("queue-timeout", &S::queue_timeout),
      seconds("request-timeout", &S::request_timeout),
      seconds("interrupt-timeout", &S::interrupt_timeout),
      seconds("graceful-timeout", &S::graceful_timeout),
      seconds("eviction-timeout", &S::eviction_timeout),
      seconds("shutdown-timeout", &S::shutdown_timeout),
      seconds("deadlock-timeout", &S::deadlock_timeout),
      count("maximum-requests", &S::maximum_requests, 0, std::numeric_limits<int>::max()),
      bytes("memory-limit", &S::memory_limit, 0, kMaxBytes),
      bytes("virtual-memory-limit", &S::virtual_memory_limit, 0, kMaxBytes),
      seconds("cpu-time-limit", &S::cpu_time_limit),
      count("cpu-priority", &S::cpu_priority, -20, 19),
  };
}();

}  // namespace wsgi_fpm
