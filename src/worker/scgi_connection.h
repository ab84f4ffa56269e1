// An SCGI connection: one request per connection, the head parsed by
// scgi::parse_request_head, the body read straight from the socket.
#pragma once

#include <algorithm>

#include "protocol/params.h"
#include "worker/connection.h"

namespace wsgi_fpm::worker {

class ScgiConnection final : public Connection {
 public:
  ScgiConnection(UniqueFd fd, const ConnectionLimits& limits)
      : Connection(std::move(fd), limits.socket_timeout_ms), limits_(limits) {}

  HeadResult read_head() override;
  bool head_begun() const override { return true; }  // one request per connection, owed from the start
  // SCGI has no keep-alive; the unread body is drained first so a frontend
  // still sending it does not fail the request on a closed socket.
  bool finish_request() override {
    timeout_ms_ = std::min(timeout_ms_, kLingerMs);
    drain_body();
    return false;
  }
  bool has_buffered_input() const override { return false; }
  bool drain_body() override;

  const protocol::Params& params() const override { return params_; }
  ssize_t read_body(char* buf, size_t n) override;
  bool write(std::span<const std::string_view> pieces, bool last) override;
  void abort() override;

 private:
  ConnectionLimits limits_;
  protocol::Params params_;
  InputBuffer input_{16 * 1024};
  std::uint64_t body_left_ = 0;
  bool broken_ = false;
};

}  // namespace wsgi_fpm::worker
