// The worker's malloc settings give way to the operator's GLIBC_TUNABLES.
#include <doctest/doctest.h>

#include "worker/malloc_tuning.h"

using wsgi_fpm::worker::malloc_tuning_for;

TEST_CASE("with no GLIBC_TUNABLES every setting of ours applies") {
  auto t = malloc_tuning_for("");
  CHECK(t.arena_max);
  CHECK(t.mmap_threshold);
  CHECK(t.trim_threshold);
}

TEST_CASE("a tunable the operator set is left to glibc, the others still apply") {
  auto t = malloc_tuning_for("glibc.malloc.arena_max=8");
  CHECK_FALSE(t.arena_max);
  CHECK(t.mmap_threshold);
  CHECK(t.trim_threshold);

  t = malloc_tuning_for("glibc.malloc.tcache_count=0:glibc.malloc.trim_threshold=131072:glibc.malloc.mmap_threshold=1");
  CHECK(t.arena_max);
  CHECK_FALSE(t.mmap_threshold);
  CHECK_FALSE(t.trim_threshold);
}

TEST_CASE("only whole tunable names count") {
  auto t = malloc_tuning_for("glibc.malloc.arena_max_x=1:x.glibc.malloc.arena_max=2:glibc.malloc.arena_test=2");
  CHECK(t.arena_max);
  t = malloc_tuning_for("glibc.malloc.arena_max");  // no value: glibc ignores it, and so do we
  CHECK(t.arena_max);
}
