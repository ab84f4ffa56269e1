// The load generator's latency histogram: percentiles within its stated
// precision, and threads' histograms merged as if one had recorded it all.
#include <doctest/doctest.h>

#include "bench/histogram.h"

using wsgi_fpm::bench::Histogram;

TEST_CASE("values below 256 ns are exact, larger ones within 0.8%") {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  CHECK(h.percentile(0.5) == 50);
  CHECK(h.percentile(0.99) == 99);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);

  Histogram big;
  for (std::uint64_t v = 1; v <= 100000; ++v) big.record(v * 1000);  // 1 µs .. 100 ms
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    double truth = q * 100000 * 1000;
    double got = static_cast<double>(big.percentile(q));
    CHECK(got == doctest::Approx(truth).epsilon(0.008));
  }
}

TEST_CASE("merging two halves gives the histogram of the whole") {
  Histogram whole, odd, even;
  for (std::uint64_t v = 1; v <= 20000; ++v) {
    whole.record(v * 37);
    (v % 2 ? odd : even).record(v * 37);
  }
  odd.merge(even);
  CHECK(odd.count() == whole.count());
  CHECK(odd.min() == whole.min());
  CHECK(odd.max() == whole.max());
  CHECK(odd.mean() == doctest::Approx(whole.mean()));
  for (double q : {0.0, 0.5, 0.9, 0.99, 0.999, 1.0}) CHECK(odd.percentile(q) == whole.percentile(q));
}

TEST_CASE("merging an empty histogram changes nothing") {
  Histogram h, empty;
  h.record(500);
  h.merge(empty);
  CHECK(h.count() == 1);
  CHECK(h.min() == 500);
  empty.merge(Histogram());
  CHECK(empty.count() == 0);
  CHECK(empty.min() == 0);
}
