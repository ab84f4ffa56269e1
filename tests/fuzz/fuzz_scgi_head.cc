// Arbitrary bytes at the start of an SCGI connection. The parser must say
// Incomplete, Complete, Malformed or TooLarge without crashing; a Complete
// head must have been Incomplete at every shorter length, and must survive
// being encoded again by encode_request_head.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "protocol/scgi.h"

using namespace wsgi_fpm;
using namespace wsgi_fpm::scgi;

namespace {

ParseResult parse_checked(std::string_view in, std::size_t limit, protocol::Params& out) {
  protocol::Params params;
  params.add("SENTINEL", "untouched");
  auto r = parse_request_head(in, limit, params);
  switch (r.status) {
    case ParseStatus::Complete:
      FUZZ_CHECK(r.error.empty());
      FUZZ_CHECK(r.consumed >= 3 && r.consumed <= in.size());
      FUZZ_CHECK(in[r.consumed - 1] == ',');
      FUZZ_CHECK(r.consumed - 2 <= limit + 20);  // the netstring, and its length's digits
      FUZZ_CHECK(!params.empty() && params[0].name == "CONTENT_LENGTH");
      FUZZ_CHECK(protocol::parse_content_length(params[0].value).has_value());
      for (const auto p : params) {
        FUZZ_CHECK(!p.name.empty());
        FUZZ_CHECK(p.name.find('\0') == std::string::npos);
        FUZZ_CHECK(p.value.find('\0') == std::string::npos);
      }
      break;
    case ParseStatus::Incomplete:
      FUZZ_CHECK(r.consumed == 0 && r.error.empty());
      FUZZ_CHECK(params.size() == 1);
      break;
    case ParseStatus::Malformed:
    case ParseStatus::TooLarge:
      FUZZ_CHECK(r.consumed == 0 && !r.error.empty());
      FUZZ_CHECK(params.size() == 1);
      break;
  }
  out = std::move(params);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  protocol::Params params, small_params;
  auto r = parse_checked(in, 64 * 1024, params);
  auto small = parse_checked(in, 32, small_params);  // a tight limit explores TooLarge
  if (r.status != ParseStatus::Complete) return 0;
  FUZZ_CHECK(small.status == ParseStatus::Complete || small.status == ParseStatus::TooLarge);

  // Every shorter prefix is Incomplete: the worker keeps reading, never
  // refuses a head merely because it has not all arrived.
  std::size_t step = std::max<std::size_t>(1, r.consumed / 64);
  for (std::size_t n = 0; n < r.consumed; n += step) {
    protocol::Params prefix_params;
    FUZZ_CHECK(parse_checked(in.substr(0, n), 64 * 1024, prefix_params).status == ParseStatus::Incomplete);
  }
  protocol::Params last;
  FUZZ_CHECK(parse_checked(in.substr(0, r.consumed - 1), 64 * 1024, last).status ==
             ParseStatus::Incomplete);

  // Encoded again, the head parses to the same parameters (CONTENT_LENGTH
  // and SCGI are the encoder's own).
  auto length = protocol::parse_content_length(params[0].value);
  std::string again = encode_request_head(params, *length);
  protocol::Params reparsed;
  auto r2 = parse_checked(again, again.size() + 1, reparsed);
  FUZZ_CHECK(r2.status == ParseStatus::Complete && r2.consumed == again.size());
  FUZZ_CHECK(reparsed[0].value == std::to_string(*length));
  std::size_t j = 2;
  for (const auto p : params) {
    if (p.name == "CONTENT_LENGTH" || p.name == "SCGI") continue;
    FUZZ_CHECK(j < reparsed.size());
    FUZZ_CHECK(reparsed[j].name == p.name && reparsed[j].value == p.value);
    ++j;
  }
  FUZZ_CHECK(j == reparsed.size());
  return 0;
}
