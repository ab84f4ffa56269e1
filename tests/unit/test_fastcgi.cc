// The FastCGI codec as a worker's connection meets it: a frontend's bytes
// arrive in arbitrary pieces, are cut into records, and drive a ServerSession;
// whatever the session asks to send back is read as the frontend would.
// Records are built by hand here (raw_record), so the decoder is never only
// checked against its own encoder.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/fastcgi.h"

using namespace wsgi_fpm;
using namespace wsgi_fpm::fastcgi;
using Event = ServerSession::Event;

namespace {

std::uint8_t t(RecordType type) { return static_cast<std::uint8_t>(type); }

// One record exactly as the spec lays it out, with the padding the peer chose.
std::string raw_record(std::uint8_t type, std::uint16_t id, std::string_view content,
                       std::uint8_t padding = 0, std::uint8_t version = 1) {
  std::string r;
  r.push_back(static_cast<char>(version));
  r.push_back(static_cast<char>(type));
  r.push_back(static_cast<char>(id >> 8));
  r.push_back(static_cast<char>(id & 0xff));
  r.push_back(static_cast<char>(content.size() >> 8));
  r.push_back(static_cast<char>(content.size() & 0xff));
  r.push_back(static_cast<char>(padding));
  r.push_back('\0');
  r.append(content);
  r.append(padding, '\xAA');  // padding bytes are anything; never zero-filled by a rude peer
  return r;
}

std::string begin_body(std::uint16_t role, bool keep) {
  std::string b;
  b.push_back(static_cast<char>(role >> 8));
  b.push_back(static_cast<char>(role & 0xff));
  b.push_back(keep ? 1 : 0);
  b.append(5, '\0');
  return b;
}

std::string begin(std::uint16_t id, bool keep = false, std::uint16_t role = 1) {
  return raw_record(t(RecordType::BeginRequest), id, begin_body(role, keep));
}

std::string pair(std::string_view name, std::string_view value) {
  std::string out;
  append_name_value(out, name, value);
  return out;
}

protocol::Params typical_params() {
  protocol::Params p;
  p.add("REQUEST_METHOD", "POST");
  p.add("REQUEST_URI", "/app/upload?x=1");
  p.add("CONTENT_LENGTH", "11");
  p.add("HTTP_HOST", "example.org");
  return p;
}

// A binary body that would reveal any byte lost, duplicated or reordered.
std::string patterned(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return s;
}

// Plays the worker's side of one connection: buffers what arrives, hands each
// complete record to the session, keeps the body and the replies.
struct Connection {
  explicit Connection(ServerLimits limits = {}) : session(limits) {}

  void receive(std::string_view bytes) {
    input.append(bytes);
    while (!failed) {
      Record r;
      std::size_t n = 0;
      auto st = parse_record(input, r, n);
      if (st == ParseStatus::Incomplete) return;
      if (st == ParseStatus::Malformed) {
        failed = true;
        return;
      }
      auto ev = session.on_record(r, reply);
      if (ev == Event::StdinData) body.append(session.stdin_chunk());  // a view into `input`
      if (ev == Event::HeadComplete) params = session.params();
      if (ev == Event::Error) failed = true;
      if (ev != Event::None) events.push_back(ev);
      input.erase(0, n);
    }
  }
  void receive_byte_by_byte(std::string_view bytes) {
    for (char c : bytes) receive(std::string_view(&c, 1));
  }

  ServerSession session;
  std::string input, reply, body;
  protocol::Params params;
  std::vector<Event> events;
  bool failed = false;
};

// The replies a session produced, as records.
struct Reply {
  std::uint8_t type;
  std::uint16_t id;
  std::string content;
};

std::vector<Reply> records_of(std::string_view bytes) {
  std::vector<Reply> out;
  while (!bytes.empty()) {
    Record r;
    std::size_t n = 0;
    REQUIRE(parse_record(bytes, r, n) == ParseStatus::Ok);
    out.push_back({r.header.type, r.header.request_id, std::string(r.content)});
    bytes.remove_prefix(n);
  }
  return out;
}

std::uint32_t be32(std::string_view s) {
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

bool same(const protocol::Params& a, const protocol::Params& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].value != b[i].value)
      return false;
  }
  return true;
}

}  // namespace

// --- records -----------------------------------------------------------------

TEST_CASE("a record is Incomplete until its header, content and padding have all arrived") {
  std::string rec = raw_record(t(RecordType::Stdin), 3, "hello", 3);
  REQUIRE(rec.size() == 16);
  for (std::size_t n = 0; n < rec.size(); ++n) {
    Record r;
    std::size_t used = 99;
    CAPTURE(n);
    CHECK(parse_record(std::string_view(rec).substr(0, n), r, used) == ParseStatus::Incomplete);
    CHECK(used == 99);  // untouched until a record is complete
  }
  Record r;
  std::size_t used = 0;
  std::string two = rec + raw_record(t(RecordType::Stdin), 3, "");
  REQUIRE(parse_record(two, r, used) == ParseStatus::Ok);
  CHECK(used == 16);
  CHECK(r.header.type == t(RecordType::Stdin));
  CHECK(r.header.request_id == 3);
  CHECK(r.header.content_length == 5);
  CHECK(r.header.padding_length == 3);
  CHECK(r.content == "hello");
}

TEST_CASE("a peer may pad a record with up to 255 bytes") {
  std::string rec = raw_record(t(RecordType::Params), 1, "abc", 255);
  Record r;
  std::size_t used = 0;
  CHECK(parse_record(std::string_view(rec).substr(0, rec.size() - 1), r, used) ==
        ParseStatus::Incomplete);
  REQUIRE(parse_record(rec, r, used) == ParseStatus::Ok);
  CHECK(used == 8 + 3 + 255);
  CHECK(r.content == "abc");
}

TEST_CASE("a record whose version is not 1 is Malformed, as soon as its first byte shows it") {
  for (std::uint8_t version : {0, 2, 0x47 /* 'G' of an HTTP request sent to the wrong port */}) {
    CAPTURE(int(version));
    std::string rec = raw_record(t(RecordType::BeginRequest), 1, begin_body(1, false), 0, version);
    Record r;
    std::size_t used = 0;
    CHECK(parse_record(rec, r, used) == ParseStatus::Malformed);
  }
  Record r;
  std::size_t used = 0;
  CHECK(parse_record("GET / HTTP/1.1\r\n", r, used) == ParseStatus::Malformed);
}

TEST_CASE("streams are written as records of at most 65535 bytes, each padded to 8") {
  SUBCASE("empty content is one empty record: the end of a stream") {
    std::string out;
    append_stream(out, RecordType::Stdout, 9, {});
    CHECK(out == raw_record(t(RecordType::Stdout), 9, ""));
  }
  SUBCASE("five bytes get three bytes of padding") {
    std::string out;
    append_stream(out, RecordType::Stdout, 0x0102, "hello");
    CHECK(out == std::string("\x01\x06\x01\x02\x00\x05\x03\x00hello\0\0\0", 16));
  }
  SUBCASE("65535 and 65536 bytes") {
    for (std::size_t size : {std::size_t{65535}, std::size_t{65536}, std::size_t{3 * 65535 + 1}}) {
      CAPTURE(size);
      std::string content = patterned(size);
      std::string out;
      append_stream(out, RecordType::Stdin, 1, content);
      auto records = records_of(out);
      CHECK(records.size() == (size + 65534) / 65535);
      std::string joined;
      for (const auto& r : records) {
        CHECK(r.content.size() <= kMaxContentLength);
        joined += r.content;
      }
      CHECK(joined == content);
      CHECK(out.size() % 8 == 0);
    }
  }
}

TEST_CASE("END_REQUEST and UNKNOWN_TYPE are laid out as the spec says") {
  std::string out;
  append_end_request(out, 7, 0xDEADBEEF, ProtocolStatus::Overloaded);
  CHECK(out == std::string("\x01\x03\x00\x07\x00\x08\x00\x00\xDE\xAD\xBE\xEF\x02\0\0\0", 16));
  out.clear();
  append_unknown_type(out, 200);
  CHECK(out == std::string("\x01\x0B\x00\x00\x00\x08\x00\x00\xC8\0\0\0\0\0\0\0", 16));
}

// --- name-value pairs --------------------------------------------------------

TEST_CASE("lengths under 128 take one byte; longer ones take four with the top bit set") {
  CHECK(pair("A", "b") == std::string("\x01\x01" "Ab"));
  std::string name(127, 'n'), value(128, 'v');
  std::string enc = pair(name, value);
  CHECK(enc.substr(0, 5) == std::string("\x7F\x80\x00\x00\x80", 5));
  CHECK(enc.size() == 1 + 4 + 127 + 128);

  std::string big(100000, 'x');
  enc = pair("HTTP_COOKIE", big);
  CHECK(enc.substr(0, 5) == std::string("\x0B\x80\x01\x86\xA0", 5));
  protocol::Params out;
  REQUIRE(decode_name_values(enc, out));
  REQUIRE(out.size() == 1);
  CHECK(out[0].name == "HTTP_COOKIE");
  CHECK(out[0].value == big);
}

TEST_CASE("a short length sent in the four-byte form is still understood") {
  // Legal, and some frontends do it: the spec only requires the top bit.
  std::string enc = std::string("\x80\x00\x00\x04\x80\x00\x00\x02", 8) + "HOSTab";
  protocol::Params out;
  REQUIRE(decode_name_values(enc, out));
  CHECK(out.get("HOST") == "ab");
}

TEST_CASE("names and values are bytes: NUL, high bytes and empty values survive") {
  protocol::Params in;
  in.add("EMPTY", "");
  in.add("", "nameless");
  in.add("BINARY", std::string("a\0b\xFF\x80", 5));
  in.add("UTF8", "caf\xC3\xA9");
  std::string enc;
  for (const auto p : in) append_name_value(enc, p.name, p.value);
  protocol::Params out;
  REQUIRE(decode_name_values(enc, out));
  CHECK(same(in, out));
}

TEST_CASE("a name-value pair cut anywhere is refused, never read past its end") {
  std::string whole = pair("SERVER_NAME", std::string(300, 's'));
  for (std::size_t n = 1; n < whole.size(); ++n) {
    CAPTURE(n);
    protocol::Params out;
    CHECK_FALSE(decode_name_values(std::string_view(whole).substr(0, n), out));
  }
  SUBCASE("a four-byte length announcing 2 GiB") {
    protocol::Params out;
    CHECK_FALSE(decode_name_values(std::string("\xFF\xFF\xFF\xFF\x01xy", 7), out));
  }
}

// --- a request, as the worker reads it ----------------------------------------

TEST_CASE("a request from encode_request yields its params, then its body, then its end") {
  auto params = typical_params();
  Connection conn;
  conn.receive(encode_request(1, params, "hello world", true));
  CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinData, Event::StdinEnd});
  CHECK(same(conn.params, params));
  CHECK(conn.body == "hello world");
  CHECK(conn.reply.empty());
  CHECK(conn.session.request_id() == 1);
  CHECK(conn.session.role() == Role::Responder);
  CHECK(conn.session.keep_connection());
  CHECK(conn.session.active());
  CHECK_FALSE(conn.session.params_too_large());
}

TEST_CASE("a request split across records arrives byte by byte") {
  // Params over 64 KiB cross a record boundary in the middle of a pair, and a
  // 200 KiB body takes four STDIN records.
  protocol::Params params;
  params.add("REQUEST_METHOD", "PUT");
  params.add("HTTP_X_LONG", std::string(70000, 'L'));
  params.add("HTTP_X_AFTER", "after the boundary");
  std::string body = patterned(200 * 1024);
  std::string wire = encode_request(513, params, body, false);

  Connection conn(ServerLimits{128 * 1024});
  conn.receive_byte_by_byte(wire);
  REQUIRE_FALSE(conn.failed);
  CHECK(conn.events.front() == Event::HeadComplete);
  CHECK(conn.events.back() == Event::StdinEnd);
  CHECK(conn.events.size() == 1 + 4 + 1);
  CHECK(same(conn.params, params));
  CHECK(conn.body == body);
  CHECK(conn.session.request_id() == 513);
  CHECK_FALSE(conn.session.keep_connection());
  CHECK(conn.input.empty());
}

TEST_CASE("hand-made records: a one-byte STDIN record, padding, and pairs split between records") {
  std::string pairs = pair("A", "1") + pair("LONGER", "two");
  std::string wire = begin(2) + raw_record(t(RecordType::Params), 2, pairs.substr(0, 3), 5) +
                     raw_record(t(RecordType::Params), 2, pairs.substr(3), 1) +
                     raw_record(t(RecordType::Params), 2, "", 7) +
                     raw_record(t(RecordType::Stdin), 2, "x", 7) +
                     raw_record(t(RecordType::Stdin), 2, "yz") + raw_record(t(RecordType::Stdin), 2, "");
  Connection conn;
  conn.receive(wire);
  CHECK(conn.events ==
        std::vector<Event>{Event::HeadComplete, Event::StdinData, Event::StdinData, Event::StdinEnd});
  CHECK(conn.params.get("A") == "1");
  CHECK(conn.params.get("LONGER") == "two");
  CHECK(conn.body == "xyz");
}

TEST_CASE("a request without params or body still completes") {
  Connection conn;
  conn.receive(encode_request(1, {}, "", false));
  CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinEnd});
  CHECK(conn.params.empty());
}

TEST_CASE("params larger than the limit are refused but the stream is still consumed") {
  protocol::Params params;
  params.add("REQUEST_METHOD", "GET");
  for (int i = 0; i < 40; ++i) params.add("HTTP_X_" + std::to_string(i), std::string(1000, 'h'));
  Connection conn(ServerLimits{4096});
  conn.receive(encode_request(1, params, "body after the refusal", true));
  REQUIRE_FALSE(conn.failed);
  CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinData, Event::StdinEnd});
  CHECK(conn.session.params_too_large());
  CHECK(conn.params.empty());  // nothing half-parsed reaches the application
  CHECK(conn.body == "body after the refusal");  // the worker drains it to answer 431

  SUBCASE("and the next request on the connection is served normally") {
    conn.session.reset();
    conn.events.clear();
    conn.body.clear();
    conn.receive(encode_request(2, typical_params(), "ok", true));
    CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinData, Event::StdinEnd});
    CHECK_FALSE(conn.session.params_too_large());
    CHECK(same(conn.params, typical_params()));
  }
}

TEST_CASE("params just under the limit are accepted whole") {
  protocol::Params params;
  params.add("HTTP_X", std::string(4000, 'h'));
  Connection conn(ServerLimits{4096});
  conn.receive(encode_request(1, params, "", false));
  CHECK_FALSE(conn.session.params_too_large());
  CHECK(same(conn.params, params));
}

TEST_CASE("a second BEGIN_REQUEST on a busy connection gets CANT_MPX_CONN") {
  Connection conn;
  conn.receive(begin(1) + raw_record(t(RecordType::Params), 1, pair("WHO", "first")));
  conn.receive(begin(2, false));
  // Only request 2 is refused; its records are ignored and request 1 goes on.
  auto replies = records_of(conn.reply);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].type == t(RecordType::EndRequest));
  CHECK(replies[0].id == 2);
  REQUIRE(replies[0].content.size() == 8);
  CHECK(be32(replies[0].content) == 0);
  CHECK(replies[0].content[4] == static_cast<char>(ProtocolStatus::CantMultiplexConnection));

  conn.receive(raw_record(t(RecordType::Params), 2, pair("WHO", "second")) +
               raw_record(t(RecordType::Params), 2, "") + raw_record(t(RecordType::Stdin), 2, "zz") +
               raw_record(t(RecordType::AbortRequest), 2, ""));
  CHECK(conn.events.empty());
  conn.receive(raw_record(t(RecordType::Params), 1, "") + raw_record(t(RecordType::Stdin), 1, "b") +
               raw_record(t(RecordType::Stdin), 1, ""));
  CHECK_FALSE(conn.failed);
  CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinData, Event::StdinEnd});
  CHECK(conn.params.get("WHO") == "first");
  CHECK(conn.body == "b");
  CHECK(conn.session.request_id() == 1);
}

TEST_CASE("a second BEGIN_REQUEST for the request already active closes the connection") {
  Connection conn;
  conn.receive(begin(1) + begin(1));
  CHECK(conn.failed);
  CHECK(conn.session.error().find("already active") != std::string::npos);
}

TEST_CASE("GET_VALUES is answered, even in the middle of a request") {
  std::string asked = pair("FCGI_MAX_CONNS", "") + pair("FCGI_MPXS_CONNS", "") + pair("FCGI_MAX_REQS", "");
  Connection conn;
  conn.receive(begin(1) + raw_record(t(RecordType::GetValues), 0, asked));
  auto replies = records_of(conn.reply);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].type == t(RecordType::GetValuesResult));
  CHECK(replies[0].id == 0);
  protocol::Params result;
  REQUIRE(decode_name_values(replies[0].content, result));
  CHECK(result.get("FCGI_MPXS_CONNS") == "0");
  CHECK_FALSE(result.get("FCGI_MAX_CONNS"));  // no limits given: not said
  CHECK(conn.events.empty());
  conn.receive(raw_record(t(RecordType::Params), 1, "") + raw_record(t(RecordType::Stdin), 1, ""));
  CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinEnd});
}

TEST_CASE("GET_VALUES tells FCGI_MAX_CONNS and FCGI_MAX_REQS as libfcgi and PHP-FPM do") {
  std::string asked = pair("FCGI_MAX_CONNS", "") + pair("FCGI_MAX_REQS", "") + pair("FCGI_MPXS_CONNS", "");
  Connection conn(ServerLimits{64 * 1024, 15, 15});
  conn.receive(raw_record(t(RecordType::GetValues), 0, asked));
  auto replies = records_of(conn.reply);
  REQUIRE(replies.size() == 1);
  protocol::Params result;
  REQUIRE(decode_name_values(replies[0].content, result));
  CHECK(result.get("FCGI_MAX_CONNS") == "15");
  CHECK(result.get("FCGI_MAX_REQS") == "15");
  CHECK(result.get("FCGI_MPXS_CONNS") == "0");
  CHECK(result.size() == 3);
}

TEST_CASE("GET_VALUES asking about nothing we know gets an empty result") {
  Connection conn;
  conn.receive(raw_record(t(RecordType::GetValues), 0, pair("X_CUSTOM", "")));
  auto replies = records_of(conn.reply);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].type == t(RecordType::GetValuesResult));
  CHECK(replies[0].content.empty());
}

TEST_CASE("a malformed GET_VALUES closes the connection") {
  Connection conn;
  conn.receive(raw_record(t(RecordType::GetValues), 0, "\x05" "AB"));
  CHECK(conn.failed);
  CHECK(conn.session.error() == "malformed GET_VALUES record");
}

TEST_CASE("an unknown management record gets UNKNOWN_TYPE naming its type") {
  for (std::uint8_t type : {std::uint8_t{0}, std::uint8_t{42}, std::uint8_t{255},
                            t(RecordType::Stdin)}) {
    CAPTURE(int(type));
    Connection conn;
    conn.receive(raw_record(type, 0, "whatever", 0));
    CHECK_FALSE(conn.failed);
    auto replies = records_of(conn.reply);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].type == t(RecordType::UnknownType));
    CHECK(replies[0].id == 0);
    REQUIRE(replies[0].content.size() == 8);
    CHECK(static_cast<std::uint8_t>(replies[0].content[0]) == type);
  }
}

TEST_CASE("ABORT_REQUEST") {
  Connection conn;
  SUBCASE("while the params arrive") {
    conn.receive(begin(4) + raw_record(t(RecordType::Params), 4, pair("A", "b")) +
                 raw_record(t(RecordType::AbortRequest), 4, ""));
    CHECK(conn.events == std::vector<Event>{Event::Aborted});
  }
  SUBCASE("while the body arrives") {
    conn.receive(begin(4) + raw_record(t(RecordType::Params), 4, "") +
                 raw_record(t(RecordType::Stdin), 4, "part") +
                 raw_record(t(RecordType::AbortRequest), 4, ""));
    CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinData, Event::Aborted});
  }
  SUBCASE("for some other request: ignored") {
    conn.receive(begin(4) + raw_record(t(RecordType::AbortRequest), 5, ""));
    CHECK(conn.events.empty());
    CHECK_FALSE(conn.failed);
  }
  SUBCASE("after the worker answered and reset: a late abort is ignored") {
    conn.receive(encode_request(4, typical_params(), "", true));
    conn.session.reset();
    conn.events.clear();
    conn.receive(raw_record(t(RecordType::AbortRequest), 4, ""));
    CHECK(conn.events.empty());
    CHECK_FALSE(conn.session.active());
  }
  CHECK_FALSE(conn.failed);
}

TEST_CASE("authorizer and filter roles are refused with UNKNOWN_ROLE; a responder after them is served") {
  for (std::uint16_t role : {std::uint16_t{2}, std::uint16_t{3}, std::uint16_t{77}}) {
    CAPTURE(role);
    Connection conn;
    conn.receive(begin(1, true, role) + raw_record(t(RecordType::Params), 1, pair("A", "b")) +
                 raw_record(t(RecordType::Params), 1, "") + raw_record(t(RecordType::Stdin), 1, "") +
                 raw_record(t(RecordType::Data), 1, "filter data"));
    CHECK(conn.events == std::vector<Event>{Event::Refused});
    CHECK(conn.session.keep_connection());
    conn.events.clear();
    CHECK_FALSE(conn.failed);
    auto replies = records_of(conn.reply);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].type == t(RecordType::EndRequest));
    CHECK(replies[0].id == 1);
    CHECK(replies[0].content[4] == static_cast<char>(ProtocolStatus::UnknownRole));
    CHECK_FALSE(conn.session.active());

    conn.receive(encode_request(1, typical_params(), "", true));
    CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinEnd});
  }
}

TEST_CASE("an unknown role without FCGI_KEEP_CONN is refused and the connection is to close") {
  Connection conn;
  conn.receive(begin(1, false, 2));
  CHECK(conn.events == std::vector<Event>{Event::Refused});
  CHECK_FALSE(conn.session.keep_connection());
  auto replies = records_of(conn.reply);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].content[4] == static_cast<char>(ProtocolStatus::UnknownRole));
}

TEST_CASE("protocol violations close the connection, saying why") {
  struct Case {
    std::string story;
    std::string wire;
    const char* error;
  };
  std::string head = begin(1) + raw_record(t(RecordType::Params), 1, "");
  std::vector<Case> cases = {
      {"BEGIN_REQUEST body of 7 bytes", raw_record(t(RecordType::BeginRequest), 1, "1234567"),
       "BEGIN_REQUEST body is not 8 bytes"},
      {"STDIN before the params ended", begin(1) + raw_record(t(RecordType::Stdin), 1, "x"),
       "STDIN record before the params stream ended"},
      {"PARAMS after the params ended", head + raw_record(t(RecordType::Params), 1, pair("A", "b")),
       "PARAMS record after the params stream ended"},
      {"STDIN data after the body ended",
       head + raw_record(t(RecordType::Stdin), 1, "") + raw_record(t(RecordType::Stdin), 1, "late"),
       "STDIN data after the stdin stream ended"},
      {"a truncated pair in PARAMS",
       begin(1) + raw_record(t(RecordType::Params), 1, "\x04\x01" "AB") +
           raw_record(t(RecordType::Params), 1, ""),
       "malformed name-value pair in PARAMS"},
      {"STDOUT sent to the application", head + raw_record(t(RecordType::Stdout), 1, "x"),
       "unexpected record type 6"},
      {"an unknown type for the active request", head + raw_record(200, 1, "x"),
       "unexpected record type 200"},
      {"END_REQUEST with no request", raw_record(t(RecordType::EndRequest), 9, std::string(8, '\0')),
       "unexpected record type 3 for request 9"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.story);
    Connection conn;
    conn.receive(c.wire);
    CHECK(conn.failed);
    CHECK(conn.events.back() == Event::Error);
    CHECK(conn.session.error() == c.error);
  }
}

TEST_CASE("after the body ended, an extra empty STDIN record is harmless") {
  Connection conn;
  conn.receive(encode_request(1, typical_params(), "b", true) + raw_record(t(RecordType::Stdin), 1, ""));
  CHECK_FALSE(conn.failed);
  CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinData, Event::StdinEnd});
}

TEST_CASE("records of a finished request are ignored once the session is reset") {
  Connection conn;
  conn.receive(encode_request(1, typical_params(), "b", true));
  conn.session.reset();
  conn.events.clear();
  conn.receive(raw_record(t(RecordType::Stdin), 1, "stray") + raw_record(t(RecordType::Params), 1, ""));
  CHECK(conn.events.empty());
  CHECK_FALSE(conn.failed);
}

TEST_CASE("a keep-alive connection serves requests one after another") {
  Connection conn;
  for (std::uint16_t id : {1, 1, 2, 65535}) {
    CAPTURE(id);
    protocol::Params p;
    p.add("REQUEST_URI", "/n/" + std::to_string(id));
    conn.receive_byte_by_byte(encode_request(id, p, "body" + std::to_string(id), true));
    CHECK(conn.events == std::vector<Event>{Event::HeadComplete, Event::StdinData, Event::StdinEnd});
    CHECK(conn.params.get("REQUEST_URI") == "/n/" + std::to_string(id));
    CHECK(conn.body == "body" + std::to_string(id));
    CHECK(conn.session.request_id() == id);
    conn.session.reset();
    CHECK_FALSE(conn.session.active());
    conn.events.clear();
    conn.body.clear();
  }
  CHECK(conn.reply.empty());
}

// --- the client side -----------------------------------------------------------

TEST_CASE("a response's STDOUT and STDERR are collected until END_REQUEST, byte by byte") {
  std::string out = patterned(70000);
  std::string wire;
  append_stream(wire, RecordType::Stdout, 1, out.substr(0, 100));
  append_stream(wire, RecordType::Stderr, 1, "warning: ");
  append_stream(wire, RecordType::Stdout, 1, out.substr(100));
  append_stream(wire, RecordType::Stderr, 1, "careful");
  append_stream(wire, RecordType::Stdout, 1, {});
  append_end_request(wire, 1, 0x01020304, ProtocolStatus::RequestComplete);
  std::string after = raw_record(t(RecordType::Stdout), 1, "next response");

  ClientResponse resp;
  std::string buffer;
  for (char c : wire + after) {
    buffer.push_back(c);
    buffer.erase(0, resp.feed(buffer));
    if (resp.done()) break;
  }
  REQUIRE(resp.done());
  CHECK(resp.error().empty());
  CHECK(resp.stdout_data() == out);
  CHECK(resp.stderr_data() == "warning: careful");
  CHECK(resp.app_status() == 0x01020304);
  CHECK(resp.protocol_status() == ProtocolStatus::RequestComplete);
  CHECK(buffer.empty());

  SUBCASE("bytes after END_REQUEST are left for the next response") {
    ClientResponse whole;
    std::string all = wire + after;
    CHECK(whole.feed(all) == wire.size());
    CHECK(whole.done());
    CHECK(whole.stdout_data() == out);
  }
}

TEST_CASE("END_REQUEST reports the application status and a refusal") {
  std::string wire;
  append_end_request(wire, 2, 0xFFFFFFFF, ProtocolStatus::Overloaded);
  ClientResponse resp;
  CHECK(resp.feed(wire) == wire.size());
  CHECK(resp.done());
  CHECK(resp.app_status() == 0xFFFFFFFF);
  CHECK(resp.protocol_status() == ProtocolStatus::Overloaded);
  CHECK(resp.stdout_data().empty());
}

TEST_CASE("a response that is not FastCGI, or a short END_REQUEST, is an error") {
  ClientResponse resp;
  resp.feed("HTTP/1.1 200 OK\r\n\r\n");
  CHECK_FALSE(resp.done());
  CHECK(resp.error() == "malformed FastCGI record (bad version)");

  ClientResponse shortend;
  shortend.feed(raw_record(t(RecordType::EndRequest), 1, "\0\0\0", 5));
  CHECK_FALSE(shortend.done());
  CHECK(shortend.error() == "short END_REQUEST record");

  shortend.reset();
  CHECK(shortend.error().empty());
  std::string ok;
  append_end_request(ok, 1, 3, ProtocolStatus::RequestComplete);
  shortend.feed(ok);
  CHECK(shortend.done());
  CHECK(shortend.app_status() == 3);
}

TEST_CASE("management records in a response are skipped") {
  std::string wire = raw_record(t(RecordType::UnknownType), 0, std::string(8, '\0'));
  append_stream(wire, RecordType::Stdout, 1, "body");
  append_end_request(wire, 1, 0, ProtocolStatus::RequestComplete);
  ClientResponse resp;
  resp.feed(wire);
  CHECK(resp.done());
  CHECK(resp.stdout_data() == "body");
}
