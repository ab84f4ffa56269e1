// One request's response as the application drives it through
// start_response, write() and the returned iterable: the exc_info rules of
// PEP 3333, header checks, headers held back until the first body byte, and
// Content-Length honoured (bytes beyond it are never sent).
#pragma once

#include <Python.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "protocol/cgi_response.h"
#include "python/request_io.h"

namespace wsgi_fpm::python {

class Response {
 public:
  Response(RequestIo& io, size_t header_buffer_size, bool head_request)
      : io_(io), header_buffer_size_(header_buffer_size), head_request_(head_request) {}

  // start_response(status, response_headers, exc_info=None). GIL held. nullptr
  // with a Python exception set when the call is invalid.
  PyObject* start_response(PyObject* status, PyObject* headers, PyObject* exc_info);

  // Sends body bytes (the head first if not yet sent). GIL held; released
  // around the write. `last` ends the response in the same write. False with
  // a Python exception set if the head is invalid or the frontend is gone.
  bool send(std::span<const std::string_view> chunks, bool last);

  // Ends the response: sends the head if no body byte was sent. GIL held.
  bool finish();

  bool started() const { return started_; }
  bool head_sent() const { return head_sent_; }
  bool finished() const { return finished_; }
  bool connection_lost() const { return connection_lost_; }
  int status_code() const { return head_.status_code(); }
  std::uint64_t body_bytes() const { return body_sent_; }

 private:
  bool set_head(PyObject* status, PyObject* headers);
  RequestIo& io_;
  size_t header_buffer_size_;
  bool head_request_;
  protocol::ResponseHead head_;
  bool started_ = false;
  bool head_sent_ = false;
  bool finished_ = false;
  bool connection_lost_ = false;
  std::uint64_t body_sent_ = 0;
};

}  // namespace wsgi_fpm::python
