// A FastCGI connection: records in through fastcgi::ServerSession, responses
// out as STDOUT records with END_REQUEST in the same write.
#pragma once

#include <string>
#include <vector>

#include "protocol/fastcgi.h"
#include "worker/connection.h"

namespace wsgi_fpm::worker {

class FastCgiConnection final : public Connection {
 public:
  FastCgiConnection(UniqueFd fd, const ConnectionLimits& limits);

  HeadResult read_head() override;
  // (Between requests the session still holds the last one, finished.)
  bool head_begun() const override { return !input_.empty() || (!between_requests_ && session_.active()); }
  bool finish_request() override;
  bool has_buffered_input() const override { return !input_.empty(); }
  bool drain_body() override;

  const protocol::Params& params() const override { return session_.params(); }
  ssize_t read_body(char* buf, size_t n) override;
  bool write(std::span<const std::string_view> pieces, bool last) override;
  void abort() override;

 private:
  // Parses the next record into `event`; reads more bytes when needed.
  // False on EOF, error or protocol error (`clean_eof_` tells which). With
  // `may_read` false it only parses what is buffered, and returns false
  // without setting `broken_` when that ends mid-record.
  bool next_event(fastcgi::ServerSession::Event& event, bool may_read = true, bool may_wait = true);
  // Discards the STDIN records already buffered, without waiting for more.
  void skip_buffered_body();
  bool flush_reply();

  fastcgi::ServerSession session_;
  InputBuffer input_;
  std::string reply_;             // management replies owed to the frontend
  std::size_t chunk_offset_ = 0;  // unread STDIN bytes of the current record, in input_
  std::size_t chunk_length_ = 0;
  bool stdin_done_ = false;
  bool broken_ = false;
  bool clean_eof_ = false;
  bool lingering_ = false;  // the response is out; reading what is left of the request
  bool would_block_ = false;  // next_event stopped because nothing more is there yet
  bool between_requests_ = true;  // read_head() starts a new head (not resuming a Pending one)
  std::vector<std::array<char, 8>> headers_;
  std::vector<iovec> iov_;
};

}  // namespace wsgi_fpm::worker
