// glibc malloc settings for a long-lived, threaded worker.
#pragma once

#include <string_view>

namespace wsgi_fpm::worker {

struct MallocTuning {
  bool arena_max = true;       // M_ARENA_MAX 1
  bool mmap_threshold = true;  // M_MMAP_THRESHOLD 32 MiB
  bool trim_threshold = true;  // M_TRIM_THRESHOLD 64 MiB
};

// Which of our settings to apply: each one the operator did not set in
// GLIBC_TUNABLES (through the pool's `environment`), which glibc has already
// applied and which a mallopt() would override. Pure, for the tests.
MallocTuning malloc_tuning_for(std::string_view glibc_tunables);

// Applies malloc_tuning_for($GLIBC_TUNABLES). Call before any thread starts.
void tune_malloc();

}  // namespace wsgi_fpm::worker
