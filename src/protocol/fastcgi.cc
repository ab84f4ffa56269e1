#include "protocol/fastcgi.h"

#include <algorithm>

namespace wsgi_fpm::fastcgi {
namespace {

std::uint16_t read_u16(const unsigned char* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void put_length(std::string& out, std::size_t len) {
  if (len < 128) {
    out.push_back(static_cast<char>(len));
  } else {
    put_u32(out, static_cast<std::uint32_t>(len) | 0x80000000u);
  }
}

// Reads one 1-or-4-byte length; false if it runs past the end.
bool read_length(std::string_view in, std::size_t& pos, std::size_t& len) {
  if (pos >= in.size()) return false;
  auto b0 = static_cast<unsigned char>(in[pos]);
  if (b0 < 128) {
    len = b0;
    pos += 1;
    return true;
  }
  if (in.size() - pos < 4) return false;
  auto p = reinterpret_cast<const unsigned char*>(in.data() + pos);
  len = (static_cast<std::size_t>(p[0] & 0x7f) << 24) | (static_cast<std::size_t>(p[1]) << 16) |
        (static_cast<std::size_t>(p[2]) << 8) | p[3];
  pos += 4;
  return true;
}

std::uint8_t padding_for(std::size_t len) { return static_cast<std::uint8_t>((8 - (len % 8)) % 8); }

}  // namespace

ParseStatus parse_record(std::string_view buf, Record& out, std::size_t& consumed) {
  if (buf.size() < kHeaderSize) return ParseStatus::Incomplete;
  auto p = reinterpret_cast<const unsigned char*>(buf.data());
  if (p[0] != kVersion1) return ParseStatus::Malformed;
  out.header.version = p[0];
  out.header.type = p[1];
  out.header.request_id = read_u16(p + 2);
  out.header.content_length = read_u16(p + 4);
  out.header.padding_length = p[6];
  std::size_t total = kHeaderSize + out.header.content_length + out.header.padding_length;
  if (buf.size() < total) return ParseStatus::Incomplete;
  out.content = buf.substr(kHeaderSize, out.header.content_length);
  consumed = total;
  return ParseStatus::Ok;
}

void append_header(std::string& out, RecordType type, std::uint16_t request_id,
                   std::uint16_t content_length, std::uint8_t padding) {
  out.push_back(static_cast<char>(kVersion1));
  out.push_back(static_cast<char>(type));
  put_u16(out, request_id);
  put_u16(out, content_length);
  out.push_back(static_cast<char>(padding));
  out.push_back(0);
}

void append_stream(std::string& out, RecordType type, std::uint16_t request_id,
                   std::string_view content) {
  do {
    std::size_t n = std::min(content.size(), kMaxContentLength);
    std::uint8_t pad = padding_for(n);
    append_header(out, type, request_id, static_cast<std::uint16_t>(n), pad);
    out.append(content.substr(0, n));
    out.append(pad, '\0');
    content.remove_prefix(n);
  } while (!content.empty());
}

void append_begin_request(std::string& out, std::uint16_t request_id, Role role,
                          bool keep_connection) {
  append_header(out, RecordType::BeginRequest, request_id, 8, 0);
  put_u16(out, static_cast<std::uint16_t>(role));
  out.push_back(keep_connection ? static_cast<char>(kKeepConnFlag) : 0);
  out.append(5, '\0');
}

void append_end_request(std::string& out, std::uint16_t request_id, std::uint32_t app_status,
                        ProtocolStatus status) {
  append_header(out, RecordType::EndRequest, request_id, 8, 0);
  put_u32(out, app_status);
  out.push_back(static_cast<char>(status));
  out.append(3, '\0');
}

void append_unknown_type(std::string& out, std::uint8_t type) {
  append_header(out, RecordType::UnknownType, 0, 8, 0);
  out.push_back(static_cast<char>(type));
  out.append(7, '\0');
}

void append_name_value(std::string& out, std::string_view name, std::string_view value) {
  put_length(out, name.size());
  put_length(out, value.size());
  out.append(name);
  out.append(value);
}

void append_params(std::string& out, std::uint16_t request_id, const protocol::Params& params) {
  std::string content;
  for (const auto p : params) append_name_value(content, p.name, p.value);
  if (!content.empty()) append_stream(out, RecordType::Params, request_id, content);
  append_stream(out, RecordType::Params, request_id, {});
}

std::size_t decode_complete_pairs(std::string_view content, protocol::Params& out) {
  out.reserve(out.size() + content.size() / 24 + 4, 0);  // ~24 bytes a pair from nginx
  // The record is copied once, lengths and all, and each pair is named
  // where it lies in the copy.
  std::size_t base = out.adopt(content);
  std::size_t done = 0;
  while (done < content.size()) {
    std::size_t pos = done, name_len = 0, value_len = 0;
    if (!read_length(content, pos, name_len) || !read_length(content, pos, value_len)) break;
    if (content.size() - pos < name_len || content.size() - pos - name_len < value_len) break;
    out.add_within(base + pos, name_len, base + pos + name_len, value_len);
    done = pos + name_len + value_len;
  }
  return done;
}

bool decode_name_values(std::string_view content, protocol::Params& out) {
  return decode_complete_pairs(content, out) == content.size();
}

// --- ServerSession -----------------------------------------------------------

ServerSession::Event ServerSession::fail(std::string message) {
  error_ = std::move(message);
  return Event::Error;
}

ServerSession::Event ServerSession::on_management(const Record& record, std::string& reply) {
  if (record.header.type != static_cast<std::uint8_t>(RecordType::GetValues)) {
    append_unknown_type(reply, record.header.type);
    return Event::None;
  }
  protocol::Params asked;
  if (!decode_name_values(record.content, asked)) return fail("malformed GET_VALUES record");
  // Each connection carries one request at a time (as libfcgi and PHP-FPM
  // answer); the thread count bounds how many a process serves at once.
  std::string content;
  for (const auto p : asked) {
    if (p.name == "FCGI_MPXS_CONNS") append_name_value(content, p.name, "0");
    if (p.name == "FCGI_MAX_CONNS" && limits_.max_connections)
      append_name_value(content, p.name, std::to_string(limits_.max_connections));
    if (p.name == "FCGI_MAX_REQS" && limits_.max_requests)
      append_name_value(content, p.name, std::to_string(limits_.max_requests));
  }
  append_stream(reply, RecordType::GetValuesResult, 0, content);
  return Event::None;
}

ServerSession::Event ServerSession::on_record(const Record& record, std::string& reply) {
  const auto& h = record.header;
  if (h.request_id == 0) return on_management(record, reply);
  auto type = static_cast<RecordType>(h.type);

  if (type == RecordType::BeginRequest) {
    if (state_ != State::Idle) {
      if (h.request_id == request_id_) return fail("BEGIN_REQUEST for a request already active");
      // Another request on this connection while one is active: refuse it alone.
      append_end_request(reply, h.request_id, 0, ProtocolStatus::CantMultiplexConnection);
      return Event::None;
    }
    if (record.content.size() != 8) return fail("BEGIN_REQUEST body is not 8 bytes");
    auto p = reinterpret_cast<const unsigned char*>(record.content.data());
    auto role = static_cast<Role>(read_u16(p));
    if (role != Role::Responder) {
      append_end_request(reply, h.request_id, 0, ProtocolStatus::UnknownRole);
      keep_connection_ = (p[2] & kKeepConnFlag) != 0;
      return Event::Refused;
    }
    request_id_ = h.request_id;
    role_ = role;
    keep_connection_ = (p[2] & kKeepConnFlag) != 0;
    state_ = State::ReadingParams;
    params_.clear();
    params_buffer_.clear();
    params_stream_bytes_ = 0;
    params_too_large_ = false;
    return Event::None;
  }

  if (state_ == State::Idle || h.request_id != request_id_) {
    // Stray records of a request refused above, or already finished: ignore,
    // as the spec says a server ignores records for inactive requests.
    if (type == RecordType::Params || type == RecordType::Stdin || type == RecordType::Data ||
        type == RecordType::AbortRequest)
      return Event::None;
    return fail("unexpected record type " + std::to_string(h.type) + " for request " +
                std::to_string(h.request_id));
  }

  switch (type) {
    case RecordType::AbortRequest:
      return Event::Aborted;
    case RecordType::Params:
      if (state_ != State::ReadingParams) return fail("PARAMS record after the params stream ended");
      if (record.content.empty()) {
        // A pair cut off by the end of the stream is malformed.
        if (!params_too_large_ && !params_buffer_.empty()) return fail("malformed name-value pair in PARAMS");
        params_buffer_ = std::string();
        state_ = State::ReadingStdin;
        return Event::HeadComplete;
      }
      params_stream_bytes_ += record.content.size();
      if (params_too_large_ || params_stream_bytes_ > limits_.max_params_bytes + 8192) {
        // Stop keeping them; the worker answers the request with an error
        // once the stream ends. The encoding overhead is allowed for above.
        params_too_large_ = true;
        params_.clear();
        params_buffer_.clear();
        return Event::None;
      }
      // The pairs are decoded as their records come, straight from the
      // record; only a pair that spans records is put together here.
      if (params_buffer_.empty()) {
        std::size_t used = decode_complete_pairs(record.content, params_);
        params_buffer_.assign(record.content.substr(used));
      } else {
        params_buffer_.append(record.content);
        params_buffer_.erase(0, decode_complete_pairs(params_buffer_, params_));
      }
      return Event::None;
    case RecordType::Stdin:
      if (state_ == State::ReadingParams) return fail("STDIN record before the params stream ended");
      if (state_ == State::StdinDone) {
        if (record.content.empty()) return Event::None;
        return fail("STDIN data after the stdin stream ended");
      }
      if (record.content.empty()) {
        state_ = State::StdinDone;
        return Event::StdinEnd;
      }
      stdin_chunk_ = record.content;
      return Event::StdinData;
    case RecordType::Data:
      return Event::None;  // FILTER role only, which we refuse
    default:
      return fail("unexpected record type " + std::to_string(h.type));
  }
}

void ServerSession::reset() {
  state_ = State::Idle;
  request_id_ = 0;
  params_.clear();
  params_buffer_.clear();
  params_stream_bytes_ = 0;
  params_too_large_ = false;
  stdin_chunk_ = {};
}

// --- client side ------------------------------------------------------------

std::string encode_request(std::uint16_t request_id, const protocol::Params& params,
                           std::string_view body, bool keep_connection) {
  std::string out;
  out.reserve(64 + params.byte_size() + params.size() * 8 + body.size() + body.size() / 8192 * 8);
  append_begin_request(out, request_id, Role::Responder, keep_connection);
  append_params(out, request_id, params);
  if (!body.empty()) append_stream(out, RecordType::Stdin, request_id, body);
  append_stream(out, RecordType::Stdin, request_id, {});
  return out;
}

std::size_t ClientResponse::feed(std::string_view buf) {
  std::size_t used = 0;
  while (!done_ && error_.empty()) {
    Record r;
    std::size_t n = 0;
    auto st = parse_record(buf.substr(used), r, n);
    if (st == ParseStatus::Incomplete) break;
    if (st == ParseStatus::Malformed) {
      error_ = "malformed FastCGI record (bad version)";
      break;
    }
    used += n;
    switch (static_cast<RecordType>(r.header.type)) {
      case RecordType::Stdout:
        stdout_.append(r.content);
        break;
      case RecordType::Stderr:
        stderr_.append(r.content);
        break;
      case RecordType::EndRequest: {
        if (r.content.size() < 8) {
          error_ = "short END_REQUEST record";
          break;
        }
        auto p = reinterpret_cast<const unsigned char*>(r.content.data());
        app_status_ = (static_cast<std::uint32_t>(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
        protocol_status_ = static_cast<ProtocolStatus>(p[4]);
        done_ = true;
        break;
      }
      default:
        break;  // management records: nothing a client needs
    }
  }
  return used;
}

}  // namespace wsgi_fpm::fastcgi
