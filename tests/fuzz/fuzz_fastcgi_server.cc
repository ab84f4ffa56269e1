// A frontend sending arbitrary bytes to a worker's FastCGI connection: every
// complete record goes to a ServerSession, as the worker's connection loop
// does, until the bytes run out or the session says to close. Whatever
// happens, the session must never crash, never hand over more than it was
// given, and only ever ask to send well-formed records.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "protocol/fastcgi.h"

using namespace wsgi_fpm;
using namespace wsgi_fpm::fastcgi;
using Event = ServerSession::Event;

namespace {

bool same(const protocol::Params& a, const protocol::Params& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].value != b[i].value)
      return false;
  }
  return true;
}

// The session's replies are whole records of the three kinds a server sends
// on its own: END_REQUEST (refusals), GET_VALUES_RESULT and UNKNOWN_TYPE.
void check_reply(std::string_view reply) {
  while (!reply.empty()) {
    Record r;
    std::size_t n = 0;
    FUZZ_CHECK(parse_record(reply, r, n) == ParseStatus::Ok);
    auto type = static_cast<RecordType>(r.header.type);
    if (type == RecordType::EndRequest) {
      FUZZ_CHECK(r.content.size() == 8);
      FUZZ_CHECK(r.header.request_id != 0);
    } else if (type == RecordType::GetValuesResult) {
      FUZZ_CHECK(r.header.request_id == 0);
      protocol::Params values;
      FUZZ_CHECK(decode_name_values(r.content, values));
    } else {
      FUZZ_CHECK(type == RecordType::UnknownType);
      FUZZ_CHECK(r.content.size() == 8);
    }
    FUZZ_CHECK(n % 8 == 0);
    reply.remove_prefix(n);
  }
}

// Decoding, re-encoding and decoding again gives the same pairs.
void check_name_values(std::string_view bytes) {
  protocol::Params first;
  if (!decode_name_values(bytes, first)) return;
  std::string encoded;
  for (const auto p : first) append_name_value(encoded, p.name, p.value);
  FUZZ_CHECK(encoded.size() <= bytes.size());  // a four-byte length may shrink to one, never grow
  protocol::Params second;
  FUZZ_CHECK(decode_name_values(encoded, second));
  FUZZ_CHECK(same(first, second));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_name_values(in);

  // A small limit half the time, so refusing large params is explored too.
  std::size_t limit = size % 2 ? 64 * 1024 : 16;
  ServerSession session(ServerLimits{limit});
  std::string reply;
  bool head_seen = false, stdin_done = false;
  while (true) {
    Record r;
    std::size_t n = 0;
    auto st = parse_record(in, r, n);
    if (st == ParseStatus::Malformed) {
      FUZZ_CHECK(in.size() >= kHeaderSize && in[0] != kVersion1);
      break;
    }
    if (st == ParseStatus::Incomplete) {
      if (in.size() >= kHeaderSize) {
        auto p = reinterpret_cast<const unsigned char*>(in.data());
        FUZZ_CHECK(in.size() < kHeaderSize + ((p[4] << 8) | p[5]) + p[6]);
      }
      break;
    }
    FUZZ_CHECK(n >= kHeaderSize && n <= in.size());
    FUZZ_CHECK(r.content.size() == r.header.content_length);
    FUZZ_CHECK(r.content.data() == in.data() + kHeaderSize);
    FUZZ_CHECK(n == kHeaderSize + r.header.content_length + r.header.padding_length);

    std::size_t reply_before = reply.size();
    auto event = session.on_record(r, reply);
    if (reply.size() > reply_before) {
      // Replies never come with an event for the application; Refused is
      // the reply itself (END_REQUEST with UNKNOWN_ROLE).
      FUZZ_CHECK(event == Event::None || event == Event::Refused);
    }
    switch (event) {
      case Event::None:
        break;
      case Event::HeadComplete:
        FUZZ_CHECK(!head_seen);
        FUZZ_CHECK(session.active());
        FUZZ_CHECK(session.request_id() != 0);
        FUZZ_CHECK(session.role() == Role::Responder);
        FUZZ_CHECK(session.params().byte_size() <= limit + 8192);
        if (session.params_too_large()) FUZZ_CHECK(session.params().empty());
        head_seen = true;
        break;
      case Event::StdinData:
        FUZZ_CHECK(head_seen && !stdin_done);
        FUZZ_CHECK(!session.stdin_chunk().empty());
        FUZZ_CHECK(session.stdin_chunk().data() == r.content.data());
        FUZZ_CHECK(session.stdin_chunk().size() == r.content.size());
        break;
      case Event::StdinEnd:
        FUZZ_CHECK(head_seen && !stdin_done);
        stdin_done = true;
        break;
      case Event::Aborted:
        FUZZ_CHECK(session.active());
        break;
      case Event::Refused:
        FUZZ_CHECK(!session.active());
        FUZZ_CHECK(reply.size() > reply_before);
        break;
      case Event::Error:
        FUZZ_CHECK(!session.error().empty());
        break;
    }
    in.remove_prefix(n);
    if (event == Event::Error) break;
    if (event == Event::Refused && !session.keep_connection()) break;  // the worker closes
    if (event == Event::StdinEnd || event == Event::Aborted) {
      // The worker answers, sends END_REQUEST, and starts over.
      session.reset();
      FUZZ_CHECK(!session.active());
      FUZZ_CHECK(session.params().empty());
      head_seen = stdin_done = false;
    }
  }
  check_reply(reply);
  return 0;
}
