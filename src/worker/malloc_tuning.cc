#include "worker/malloc_tuning.h"

#include <malloc.h>

#include <cstdlib>

namespace wsgi_fpm::worker {

namespace {

// GLIBC_TUNABLES is "name=value:name=value"; glibc ignores an item without a value.
bool names_tunable(std::string_view tunables, std::string_view name) {
  while (!tunables.empty()) {
    auto colon = tunables.find(':');
    std::string_view item = tunables.substr(0, colon);
    auto equals = item.find('=');
    if (equals != std::string_view::npos && item.substr(0, equals) == name) return true;
    if (colon == std::string_view::npos) break;
    tunables.remove_prefix(colon + 1);
  }
  return false;
}

}  // namespace

MallocTuning malloc_tuning_for(std::string_view glibc_tunables) {
  MallocTuning t;
  t.arena_max = !names_tunable(glibc_tunables, "glibc.malloc.arena_max");
  t.mmap_threshold = !names_tunable(glibc_tunables, "glibc.malloc.mmap_threshold");
  t.trim_threshold = !names_tunable(glibc_tunables, "glibc.malloc.trim_threshold");
  return t;
}

void tune_malloc() {
  const char* env = std::getenv("GLIBC_TUNABLES");
  MallocTuning t = malloc_tuning_for(env ? env : "");
  // One arena for every thread. glibc gives each thread that allocates an
  // arena of its own (up to 8 per core), and each keeps the pages it ever
  // touched: 0.4-0.7 MiB per request thread that has served (measured: a
  // hello world worker of 4 threads, 12.3-12.5 MiB RSS, 11.2-11.3 with one arena; same
  // requests/s for hello, Flask, 1 MiB POSTs and 32 threads sleeping). Most
  // allocations are made holding the GIL anyway, and small ones come from
  // the thread's own tcache without taking the arena's lock.
  if (t.arena_max) mallopt(M_ARENA_MAX, 1);
  // Request bodies and responses of a MiB or more are allocated and freed on
  // every request; with glibc's defaults each one is a fresh mmap that is
  // page-faulted in and unmapped again (measured: page faults were most of a
  // 1 MiB POST's cost). A long-lived server keeps that memory instead.
  if (t.mmap_threshold) mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  if (t.trim_threshold) mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
}

}  // namespace wsgi_fpm::worker
