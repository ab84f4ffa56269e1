// The pool settings a worker runs with as the configuration gives them,
// described once: the YAML key (also the worker's `--KEY`), the member, how
// it is spelled and its bounds, and, as the member's initializer, its
// default. The configuration reader (config/pool_reader.cc), the worker's
// command line both ways (worker/options.cc) and the man page check
// (tests/unit/test_config.cc) all go through kWorkerSettings, and
// config::Pool and worker::WorkerOptions both derive from WorkerSettings.
//
// To add such a key: a member here, its row below, the man page entry, and
// the code that uses it. Settings that need more than a number (a user, an
// address, a list) or that the supervisor turns into something else are
// read by hand in pool_reader.cc.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string_view>

#include "wsgi_fpm/scoreboard.h"

namespace wsgi_fpm {

struct WorkerSettings {
  int threads = 15;  // request threads per process
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

struct WorkerSetting {
  enum class Kind {
    Seconds,  // an int: a whole number of seconds
    Count,    // an int
    Bytes,    // a std::uint64_t: a size, with K, M, G suffixes in YAML
  };
  std::string_view key;
  Kind kind;
  int WorkerSettings::*number = nullptr;          // Seconds, Count
  std::uint64_t WorkerSettings::*size = nullptr;  // Bytes
  std::int64_t min = 0;
  std::int64_t max = 0;
};

namespace worker_settings_detail {
constexpr std::int64_t kYear = 365 * 24 * 3600;  // a timeout longer than this is a typo
constexpr std::int64_t kMaxBytes = std::numeric_limits<std::int64_t>::max();
constexpr WorkerSetting seconds(std::string_view key, int WorkerSettings::*m, std::int64_t min = 0) {
  return {key, WorkerSetting::Kind::Seconds, m, nullptr, min, kYear};
}
constexpr WorkerSetting count(std::string_view key, int WorkerSettings::*m, std::int64_t min, std::int64_t max) {
  return {key, WorkerSetting::Kind::Count, m, nullptr, min, max};
}
constexpr WorkerSetting bytes(std::string_view key, std::uint64_t WorkerSettings::*m, std::int64_t min,
                              std::int64_t max) {
  return {key, WorkerSetting::Kind::Bytes, nullptr, m, min, max};
}
}  // namespace worker_settings_detail

inline constexpr auto kWorkerSettings = [] {
  using namespace worker_settings_detail;
  using S = WorkerSettings;
  return std::array{
      count("threads", &S::threads, 1, static_cast<std::int64_t>(kScoreboardThreads)),  // a slot each
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
