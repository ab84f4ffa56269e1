#include "worker/resource_limits.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "util/descriptor_limit.h"

namespace wsgi_fpm::worker {
namespace {

bool limit(int resource, std::uint64_t value, const char* name, std::string& error) {
  if (value == 0) return true;
  rlimit r{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
  if (setrlimit(resource, &r) != 0) {
    error = std::string(name) + ": setrlimit: " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

bool apply_resource_limits(const WorkerOptions& o, std::string& error) {
  if (!limit(RLIMIT_DATA, o.memory_limit, "memory-limit", error) ||
      !limit(RLIMIT_AS, o.virtual_memory_limit, "virtual-memory-limit", error) ||
      !limit(RLIMIT_CPU, o.cpu_time_limit, "cpu-time-limit", error))
    return false;
  if (!lower_descriptor_limit(o.descriptor_limit)) {
    error = "descriptor limit " + std::to_string(o.descriptor_limit) + ": setrlimit: " + std::strerror(errno);
    return false;
  }
  if (o.cpu_priority != 0 && setpriority(PRIO_PROCESS, 0, o.cpu_priority) != 0) {
    error = "cpu-priority: setpriority: " + std::string(std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace wsgi_fpm::worker
