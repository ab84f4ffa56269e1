#include "bench/response.h"

#include <algorithm>
#include <cstring>

#include "protocol/fastcgi.h"

namespace wsgi_fpm::bench {
namespace {

bool starts_with_nocase(std::string_view line, std::string_view prefix) {
  if (line.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = line[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// Three digits after optional spaces; 0 if there are none.
int three_digits(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  if (s.size() < 3) return 0;
  int v = 0;
  for (int i = 0; i < 3; ++i) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

void CgiHead::feed(const char* p, std::size_t n) {
  if (state_ == State::Body) {
    body_bytes_ += n;
    return;
  }
  if (state_ == State::Malformed) return;
  // Search the new bytes, plus the last three already kept, for the blank line.
  std::size_t from = head_len_ >= 3 ? head_len_ - 3 : 0;
  std::size_t take = std::min(n, head_.size() - head_len_);
  std::memcpy(head_.data() + head_len_, p, take);
  head_len_ += take;
  std::string_view kept(head_.data(), head_len_);
  std::size_t end = std::string_view::npos, blank = 0;
  for (std::size_t i = from; i < kept.size(); ++i) {
    if (kept[i] != '\n') continue;
    if (i + 1 < kept.size() && kept[i + 1] == '\n') {
      end = i + 2;
      blank = i + 1;
      break;
    }
    if (i + 2 < kept.size() && kept[i + 1] == '\r' && kept[i + 2] == '\n') {
      end = i + 3;
      blank = i + 1;
      break;
    }
  }
  if (end == std::string_view::npos) {
    if (head_len_ == head_.size()) state_ = State::Malformed;  // a header block this large is a bug
    return;
  }
  // Bytes of this chunk past the blank line are body.
  std::size_t body_in_chunk = n - (take - (head_len_ - end));
  head_len_ = blank;
  state_ = State::Body;
  body_bytes_ = body_in_chunk;
  parse_head();
}

void CgiHead::parse_head() {
  std::string_view rest = head();
  bool first = true;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (first && line.starts_with("HTTP/")) {
      auto sp = line.find(' ');
      status_ = sp == std::string_view::npos ? 0 : three_digits(line.substr(sp));
      if (status_ == 0) state_ = State::Malformed;
      return;
    }
    first = false;
    if (starts_with_nocase(line, "status:")) {
      status_ = three_digits(line.substr(7));
      if (status_ == 0) state_ = State::Malformed;
      return;
    }
  }
}

// --- FastCGI ---------------------------------------------------------------

void FastcgiResponse::reset() {
  state_ = State::Header;
  header_have_ = 0;
  end_have_ = 0;
  app_status_ = 0;
  stderr_bytes_ = 0;
  error_ = "";
  head_.reset();
}

FastcgiResponse::Result FastcgiResponse::on_header() {
  using fastcgi::RecordType;
  if (header_[0] != fastcgi::kVersion1) return fail("FastCGI record with a version other than 1");
  type_ = header_[1];
  auto request_id = static_cast<std::uint16_t>((header_[2] << 8) | header_[3]);
  content_left_ = static_cast<std::size_t>((header_[4] << 8) | header_[5]);
  padding_left_ = header_[6];
  auto type = static_cast<RecordType>(type_);
  if (type != RecordType::Stdout && type != RecordType::Stderr && type != RecordType::EndRequest)
    return fail("unexpected FastCGI record type in a response");
  if (request_id != 1) return fail("FastCGI record for another request id");
  if (type == RecordType::EndRequest && content_left_ != 8) return fail("END_REQUEST body is not 8 bytes");
  state_ = State::Content;
  return Result::NeedMore;
}

FastcgiResponse::Result FastcgiResponse::on_record_end() {
  state_ = State::Header;
  header_have_ = 0;
  if (static_cast<fastcgi::RecordType>(type_) != fastcgi::RecordType::EndRequest) return Result::NeedMore;
  const auto* e = end_body_.data();
  app_status_ = (static_cast<std::uint32_t>(e[0]) << 24) | (static_cast<std::uint32_t>(e[1]) << 16) |
                (static_cast<std::uint32_t>(e[2]) << 8) | e[3];
  if (e[4] != static_cast<std::uint8_t>(fastcgi::ProtocolStatus::RequestComplete))
    return fail("END_REQUEST with a protocol status other than REQUEST_COMPLETE");
  if (!head_.complete()) return fail("response ended inside its CGI header block");
  return Result::Done;
}

FastcgiResponse::Result FastcgiResponse::feed(const char* p, std::size_t n, std::size_t& used) {
  using fastcgi::RecordType;
  std::size_t at = 0;
  while (at < n) {
    switch (state_) {
      case State::Header: {
        std::size_t k = std::min(n - at, header_.size() - header_have_);
        std::memcpy(header_.data() + header_have_, p + at, k);
        header_have_ += k;
        at += k;
        if (header_have_ < header_.size()) break;
        if (on_header() == Result::Error) return Result::Error;
        if (content_left_ == 0 && padding_left_ == 0) {
          auto r = on_record_end();
          if (r != Result::NeedMore) {
            used = at;
            return r;
          }
        }
        break;
      }
      case State::Content: {
        std::size_t k = std::min(n - at, content_left_);
        switch (static_cast<RecordType>(type_)) {
          case RecordType::Stdout:
            head_.feed(p + at, k);
            if (head_.malformed()) return fail("malformed CGI header block in STDOUT");
            break;
          case RecordType::Stderr:
            stderr_bytes_ += k;
            break;
          default:
            std::memcpy(end_body_.data() + end_have_, p + at, k);
            end_have_ += k;
            break;
        }
        at += k;
        content_left_ -= k;
        if (content_left_ == 0) state_ = State::Padding;
        [[fallthrough]];
      }
      case State::Padding: {
        if (content_left_ != 0) break;
        std::size_t k = std::min(n - at, padding_left_);
        at += k;
        padding_left_ -= k;
        if (padding_left_ == 0) {
          auto r = on_record_end();
          if (r != Result::NeedMore) {
            used = at;
            return r;
          }
        }
        break;
      }
    }
  }
  used = at;
  return Result::NeedMore;
}

}  // namespace wsgi_fpm::bench
