// The descriptor limit (RLIMIT_NOFILE). systemd and most shells start
// services with a soft limit of 1024, which a supervisor of a thousand pools
// passes idle (a listening socket each, three pipes per process); the hard
// limit is what the administrator meant (systemd's default: 524288). So the
// supervisor raises its soft limit to the hard one at start, and its workers,
// which run tenant code (select() cannot take a descriptor past 1023), go
// back to the soft limit the supervisor was started with.
#pragma once

#include <sys/resource.h>

#include <cstdint>

namespace wsgi_fpm {

struct DescriptorLimit {
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
};

DescriptorLimit descriptor_limit();

// Raises the soft limit to the hard one; returns the limit as it was before.
// The first call's answer is kept: original_descriptor_limit().
DescriptorLimit raise_descriptor_limit();
DescriptorLimit original_descriptor_limit();

// Lowers the soft limit to `soft` (never raises it). False with errno.
bool lower_descriptor_limit(std::uint64_t soft);

// How many descriptors this process has open (a look at /proc/self/fd:
// tens of microseconds per thousand; call it rarely).
std::uint64_t open_descriptors();

}  // namespace wsgi_fpm
