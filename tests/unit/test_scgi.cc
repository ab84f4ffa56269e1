// The SCGI request head as a worker reads it: one netstring of NUL-separated
// names and values, CONTENT_LENGTH first, arriving in pieces. Heads are
// written out by hand (head()) so the parser is not only checked against
// encode_request_head.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/scgi.h"

using namespace wsgi_fpm;
using namespace wsgi_fpm::scgi;

namespace {

// "<len>:" + headers + "," from a list of name/value pairs.
std::string head(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string h;
  for (const auto& [name, value] : headers) {
    h += name;
    h.push_back('\0');
    h += value;
    h.push_back('\0');
  }
  return std::to_string(h.size()) + ":" + h + ",";
}

// The example request of python.ca/scgi/protocol.txt.
std::string spec_example() {
  return head({{"CONTENT_LENGTH", "27"},
               {"SCGI", "1"},
               {"REQUEST_METHOD", "POST"},
               {"REQUEST_URI", "/deepthought"}});
}

ParseResult parse(std::string_view buf, protocol::Params& out, std::size_t max = 64 * 1024) {
  return parse_request_head(buf, max, out);
}

}  // namespace

TEST_CASE("the spec's example request: the head, then the body that follows it") {
  std::string wire = spec_example() + "What is the answer to life?";
  CHECK(spec_example().starts_with("70:CONTENT_LENGTH"));
  protocol::Params p;
  auto r = parse(wire, p);
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.error.empty());
  CHECK(r.consumed == spec_example().size());
  CHECK(wire.substr(r.consumed) == "What is the answer to life?");
  REQUIRE(p.size() == 4);
  CHECK(p[0].name == "CONTENT_LENGTH");
  CHECK(p.get("CONTENT_LENGTH") == "27");
  CHECK(p.get("SCGI") == "1");
  CHECK(p.get("REQUEST_METHOD") == "POST");
  CHECK(p.get("REQUEST_URI") == "/deepthought");
}

TEST_CASE("a head cut at every byte position is Incomplete, and leaves the params alone") {
  std::string wire = spec_example();
  for (std::size_t n = 0; n < wire.size(); ++n) {
    CAPTURE(n);
    protocol::Params p;
    p.add("UNTOUCHED", "yes");
    auto r = parse(std::string_view(wire).substr(0, n), p);
    CHECK(r.status == ParseStatus::Incomplete);
    CHECK(r.consumed == 0);
    CHECK(p.size() == 1);
  }
}

TEST_CASE("a head arriving byte by byte completes exactly when its comma arrives") {
  std::string wire = spec_example() + "body";
  std::string buffer;
  protocol::Params p;
  ParseResult r;
  std::size_t fed = 0;
  while (r.status == ParseStatus::Incomplete) {
    buffer.push_back(wire[fed++]);
    r = parse(buffer, p);
  }
  CHECK(r.status == ParseStatus::Complete);
  CHECK(fed == spec_example().size());
  CHECK(p.get("REQUEST_URI") == "/deepthought");
}

TEST_CASE("values may be empty or hold any byte but NUL") {
  std::string wire = head({{"CONTENT_LENGTH", "0"},
                           {"SCGI", "1"},
                           {"QUERY_STRING", ""},
                           {"HTTP_X_BYTES", "caf\xC3\xA9 \x01\xFF:,"}});
  protocol::Params p;
  REQUIRE(parse(wire, p).status == ParseStatus::Complete);
  CHECK(p.get("QUERY_STRING") == "");
  CHECK(p.get("HTTP_X_BYTES") == "caf\xC3\xA9 \x01\xFF:,");
}

TEST_CASE("a head announcing more than the limit is TooLarge before it arrives") {
  protocol::Params p;
  auto r = parse("100001:", p, 100000);
  CHECK(r.status == ParseStatus::TooLarge);
  CHECK(r.error == "request head larger than 100000 bytes");
  SUBCASE("even while the length is still arriving") {
    CHECK(parse("1000", p, 100).status == ParseStatus::TooLarge);
  }
  SUBCASE("an absurd length cannot overflow into a small one") {
    CHECK(parse("18446744073709551617:", p, 100).status == ParseStatus::TooLarge);
  }
  SUBCASE("exactly the limit is fine") {
    std::string wire = spec_example();
    CHECK(parse(wire, p, 70).status == ParseStatus::Complete);
    CHECK(parse(wire, p, 69).status == ParseStatus::TooLarge);
  }
}

TEST_CASE("bad netstrings are Malformed, saying why") {
  struct Case {
    std::string story;
    std::string wire;
    const char* error;
  };
  std::string cl = std::string("CONTENT_LENGTH\0" "0\0", 17);
  std::vector<Case> cases = {
      {"a leading zero", "017:" + cl + ",", "netstring length has a leading zero"},
      {"no colon", "17;" + cl + ",", "netstring length not followed by ':'"},
      {"no length at all", ":" + cl + ",", "request does not start with a netstring length"},
      {"an HTTP request on the SCGI port", "GET / HTTP/1.1\r\n",
       "request does not start with a netstring length"},
      {"missing comma", "17:" + cl + ";", "netstring not terminated by ','"},
      {"length one short, so the comma is misplaced", "16:" + cl + ",",
       "netstring not terminated by ','"},
      {"no trailing NUL", "16:" + cl.substr(0, 16) + ",", "headers do not end with a NUL byte"},
      {"empty netstring", "0:,", "headers do not end with a NUL byte"},
      {"a name without a value", std::string("15:CONTENT_LENGTH\0,", 19), "header name without a value"},
      {"an empty name", head({{"CONTENT_LENGTH", "0"}, {"", "x"}}), "empty header name"},
      {"first header not CONTENT_LENGTH", head({{"SCGI", "1"}, {"CONTENT_LENGTH", "0"}}),
       "first header is not CONTENT_LENGTH"},
      {"content_length in lower case", head({{"content_length", "0"}}),
       "first header is not CONTENT_LENGTH"},
      {"non-numeric CONTENT_LENGTH", head({{"CONTENT_LENGTH", "12abc"}}),
       "CONTENT_LENGTH is not a decimal number"},
      {"negative CONTENT_LENGTH", head({{"CONTENT_LENGTH", "-1"}}),
       "CONTENT_LENGTH is not a decimal number"},
      {"CONTENT_LENGTH with a space", head({{"CONTENT_LENGTH", " 5"}}),
       "CONTENT_LENGTH is not a decimal number"},
      {"CONTENT_LENGTH beyond 64 bits", head({{"CONTENT_LENGTH", "18446744073709551616"}}),
       "CONTENT_LENGTH is not a decimal number"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.story);
    protocol::Params p;
    p.add("UNTOUCHED", "yes");
    auto r = parse(c.wire, p);
    CHECK(r.status == ParseStatus::Malformed);
    CHECK(r.error == c.error);
    CHECK(r.consumed == 0);
    CHECK(p.size() == 1);
  }
}

TEST_CASE("a zero length on its own is fine; it just has no headers yet") {
  protocol::Params p;
  CHECK(parse("0", p).status == ParseStatus::Incomplete);
  CHECK(parse("0:", p).status == ParseStatus::Incomplete);
}

TEST_CASE("the largest CONTENT_LENGTH a uint64 holds is accepted") {
  protocol::Params p;
  auto r = parse(head({{"CONTENT_LENGTH", "18446744073709551615"}}), p);
  CHECK(r.status == ParseStatus::Complete);
}

TEST_CASE("encode_request_head puts CONTENT_LENGTH and SCGI first, and parse reads it back") {
  protocol::Params in;
  in.add("SCGI", "2");               // replaced by SCGI=1
  in.add("REQUEST_METHOD", "PUT");
  in.add("CONTENT_LENGTH", "999");   // replaced by the real body length
  in.add("REQUEST_URI", "/x%20y?z=1");
  in.add("HTTP_COOKIE", std::string(5000, 'c'));
  in.add("EMPTY", "");
  std::string wire = encode_request_head(in, 12345);

  protocol::Params out;
  auto r = parse(wire + "body...", out);
  REQUIRE(r.status == ParseStatus::Complete);
  CHECK(r.consumed == wire.size());
  REQUIRE(out.size() == 6);
  CHECK(out[0].name == "CONTENT_LENGTH");
  CHECK(out[0].value == "12345");
  CHECK(out[1].name == "SCGI");
  CHECK(out[1].value == "1");
  CHECK(out[2].name == "REQUEST_METHOD");
  CHECK(out[3].value == "/x%20y?z=1");
  CHECK(out[4].value == std::string(5000, 'c'));
  CHECK(out[5].name == "EMPTY");
  CHECK(out[5].value == "");
}

TEST_CASE("an encoded head with no params of its own is still a valid request") {
  std::string wire = encode_request_head({}, 0);
  CHECK(wire == std::string("24:CONTENT_LENGTH\0" "0\0SCGI\0" "1\0,", 28));
  protocol::Params out;
  CHECK(parse(wire, out).status == ParseStatus::Complete);
  CHECK(out.size() == 2);
}

TEST_CASE("the request model both protocols fill: first value wins, set replaces, remove removes all") {
  protocol::Params p;
  p.add("HTTP_X", "first");
  p.add("HTTP_X", "second");  // a frontend should never, but a client's header might
  p.add("SCRIPT_NAME", "/app");
  CHECK(p.get("HTTP_X") == "first");
  CHECK_FALSE(p.get("http_x"));  // names are case-sensitive
  CHECK(p.get_or("MISSING", "fallback") == "fallback");
  CHECK(p.byte_size() == 6 + 5 + 6 + 6 + 11 + 4);

  p.set("HTTP_X", "replaced");
  CHECK(p[0].value == "replaced");
  CHECK(p[1].value == "second");
  p.set("PATH_INFO", "/x");
  CHECK(p[p.size() - 1].name == "PATH_INFO");

  p.remove("HTTP_X");
  CHECK(p.size() == 2);
  CHECK_FALSE(p.get("HTTP_X"));
  p.clear();
  CHECK(p.empty());
}

TEST_CASE("CONTENT_LENGTH: empty means zero, anything but plain decimal digits is refused") {
  CHECK(protocol::parse_content_length("") == 0u);
  CHECK(protocol::parse_content_length("0") == 0u);
  CHECK(protocol::parse_content_length("007") == 7u);
  CHECK(protocol::parse_content_length("18446744073709551615") == 18446744073709551615u);
  for (std::string bad : {"-0", "+1", " 1", "1 ", "1e3", "0x10", "18446744073709551616", "１"}) {
    CAPTURE(bad);
    CHECK_FALSE(protocol::parse_content_length(bad));
  }
}
