// A FastCGI server's answer, arbitrary bytes, read by ClientResponse (what
// `wsgi-fpm request` and the benchmark use). However the bytes are cut into
// reads, the response must come out the same as when they arrive at once.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "protocol/fastcgi.h"

using namespace wsgi_fpm::fastcgi;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  ClientResponse whole;
  std::size_t used = whole.feed(in);
  FUZZ_CHECK(used <= in.size());
  FUZZ_CHECK(!(whole.done() && !whole.error().empty()));
  FUZZ_CHECK(whole.stdout_data().size() + whole.stderr_data().size() <= used);
  // Having stopped short of the end, it must say why: done, an error, or a
  // record still incomplete.
  if (used < in.size() && !whole.done() && whole.error().empty()) {
    Record r;
    std::size_t n = 0;
    FUZZ_CHECK(parse_record(in.substr(used), r, n) == ParseStatus::Incomplete);
  }

  // The same bytes in reads of 1 to 17 bytes, chosen by the bytes themselves.
  ClientResponse pieces;
  std::string buffer;
  std::size_t fed = 0, consumed = 0;
  while (fed < in.size() && !pieces.done() && pieces.error().empty()) {
    std::size_t step = 1 + static_cast<unsigned char>(in[fed]) % 17;
    step = std::min(step, in.size() - fed);
    buffer.append(in.substr(fed, step));
    fed += step;
    std::size_t n = pieces.feed(buffer);
    FUZZ_CHECK(n <= buffer.size());
    buffer.erase(0, n);
    consumed += n;
  }
  FUZZ_CHECK(consumed == used);
  FUZZ_CHECK(pieces.done() == whole.done());
  FUZZ_CHECK(pieces.error() == whole.error());
  FUZZ_CHECK(pieces.stdout_data() == whole.stdout_data());
  FUZZ_CHECK(pieces.stderr_data() == whole.stderr_data());
  FUZZ_CHECK(pieces.app_status() == whole.app_status());
  FUZZ_CHECK(pieces.protocol_status() == whole.protocol_status());

  whole.reset();
  FUZZ_CHECK(!whole.done() && whole.error().empty() && whole.stdout_data().empty());
  return 0;
}
