#include "python/body_reader.h"

#include <algorithm>
#include <cstring>

namespace wsgi_fpm::python {
namespace {
constexpr size_t kFillSize = 64 * 1024;
}

ssize_t BodyReader::read_from_io(char* out, size_t n) {
  if (eof_ || failed_) return 0;
  if (remaining_) {
    if (*remaining_ == 0) {
      eof_ = true;
      return 0;
    }
    n = static_cast<size_t>(std::min<std::uint64_t>(n, *remaining_));
  }
  ssize_t got = io_.read_body(out, n);
  if (got < 0) {
    failed_ = true;
    return -1;
  }
  if (got == 0) {
    // The frontend ended the body before CONTENT_LENGTH: a truncated upload.
    if (remaining_ && *remaining_ > 0) failed_ = true;
    eof_ = true;
    return failed_ ? -1 : 0;
  }
  if (remaining_) *remaining_ -= static_cast<std::uint64_t>(got);
  total_ += static_cast<std::uint64_t>(got);
  return got;
}

ssize_t BodyReader::read(char* out, size_t n) {
  size_t copied = 0;
  auto buffered_bytes = buffered();
  if (!buffered_bytes.empty()) {
    copied = std::min(n, buffered_bytes.size());
    std::memcpy(out, buffered_bytes.data(), copied);
    pos_ += copied;
  }
  while (copied < n) {
    ssize_t got = read_from_io(out + copied, n - copied);
    if (got < 0) return -1;
    if (got == 0) break;
    copied += static_cast<size_t>(got);
  }
  return static_cast<ssize_t>(copied);
}

bool BodyReader::fill() {
  if (pos_ > 0) {  // drop what was consumed, so a long body never accumulates
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  size_t old = buffer_.size();
  buffer_.resize(old + kFillSize);
  ssize_t got = read_from_io(buffer_.data() + old, kFillSize);
  buffer_.resize(old + static_cast<size_t>(std::max<ssize_t>(got, 0)));
  return got > 0;
}

}  // namespace wsgi_fpm::python
