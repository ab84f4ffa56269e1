// SCGI codec (python.ca/scgi/protocol.txt): a request head is one netstring
// "<len>:<NAME>\0<VALUE>\0...," whose first header is CONTENT_LENGTH, followed
// by the body; the response is CGI-style ("Status: 200 OK\r\n...") until the
// connection closes. Pure: no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "protocol/params.h"

namespace wsgi_fpm::scgi {

enum class ParseStatus {
  Incomplete,  // feed more bytes
  Complete,    // `consumed` bytes form the head; the body follows
  Malformed,   // error says what
  TooLarge,    // the netstring announces more than the limit
};

struct ParseResult {
  ParseStatus status = ParseStatus::Incomplete;
  std::size_t consumed = 0;
  std::string error;
};

// Parses the request head at the front of `buf` into `out`. `max_head_bytes`
// bounds the netstring's announced length (request-header-limit).
ParseResult parse_request_head(std::string_view buf, std::size_t max_head_bytes,
                               protocol::Params& out);

// Encodes a request head for the client side. CONTENT_LENGTH is written first,
// from `body_length`, and SCGI=1 is added; any CONTENT_LENGTH or SCGI in
// `params` is skipped.
std::string encode_request_head(const protocol::Params& params, std::size_t body_length);

}  // namespace wsgi_fpm::scgi
