// The request body as wsgi.input reads it: streamed from the connection in
// bounded pieces, never the whole body in memory, with EOF simulated at
// CONTENT_LENGTH (PEP 3333).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "python/request_io.h"

namespace wsgi_fpm::python {

class BodyReader {
 public:
  // `length`: CONTENT_LENGTH, or nullopt to read until the protocol's end of body.
  BodyReader(RequestIo& io, std::optional<std::uint64_t> length) : io_(io), remaining_(length) {}

  // Copies up to `n` bytes, filling from the connection as needed. Blocks:
  // call without the GIL. Returns bytes copied (0 at EOF), -1 on error.
  ssize_t read(char* out, size_t n);
  // Makes at least one more byte available in the buffer, or reports EOF
  // (false). Blocks: call without the GIL. Sets failed() on error.
  bool fill();
  // Bytes buffered but not yet consumed.
  std::string_view buffered() const { return std::string_view(buffer_).substr(pos_); }
  void consume(size_t n) { pos_ += n; }
  bool eof() const { return eof_; }
  // Bytes left to read when CONTENT_LENGTH is known (buffered included).
  std::optional<std::uint64_t> remaining() const {
    if (!remaining_) return std::nullopt;
    return *remaining_ + buffered().size();
  }
  bool failed() const { return failed_; }
  std::uint64_t bytes_read() const { return total_; }

 private:
  ssize_t read_from_io(char* out, size_t n);
  RequestIo& io_;
  std::optional<std::uint64_t> remaining_;
  std::string buffer_;
  size_t pos_ = 0;
  bool eof_ = false;
  bool failed_ = false;
  std::uint64_t total_ = 0;
};

}  // namespace wsgi_fpm::python
