#include "python/response.h"

#include <vector>

#include "python/gil.h"
#include "python/ref.h"
#include "util/log.h"

namespace wsgi_fpm::python {
namespace {

// Responses up to this size are written holding the GIL (see
// GilReleasedWhileWaiting): copying them into the socket takes a few
// microseconds, less than handing the GIL to another thread and back.
constexpr std::size_t kWriteHoldingGil = 256 * 1024;

// A WSGI "native string": str whose characters are all latin-1. Such a str
// keeps one byte a character, which are the latin-1 bytes: copied as they
// are, with no bytes object made for them. `out` lives as long as `s`.
bool latin1(PyObject* s, std::string_view& out, const char* what) {
  if (!PyUnicode_Check(s)) {
    PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(s)->tp_name);
    return false;
  }
  if (PyUnicode_READY(s) < 0) return false;
  if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
    PyErr_Format(PyExc_ValueError, "%s must be latin-1 encodable", what);
    return false;
  }
  out = {reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(s)), static_cast<size_t>(PyUnicode_GET_LENGTH(s))};
  return true;
}

}  // namespace

bool Response::set_head(PyObject* status, PyObject* headers) {
  protocol::ResponseHead head;
  std::string_view text;
  if (!latin1(status, text, "status")) return false;
  if (auto why = protocol::check_status(text); !why.empty()) {
    PyErr_Format(PyExc_ValueError, "invalid status %R: %s", status, why.c_str());
    return false;
  }
  head.set_status(text);
  if (!PyList_Check(headers)) {
    PyErr_Format(PyExc_TypeError, "response headers must be a list, not %.100s",
                 Py_TYPE(headers)->tp_name);
    return false;
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); ++i) {
    PyObject* item = PyList_GET_ITEM(headers, i);
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
      PyErr_Format(PyExc_TypeError, "each response header must be a (name, value) tuple, got %R", item);
      return false;
    }
    std::string_view name, value;
    if (!latin1(PyTuple_GET_ITEM(item, 0), name, "header name") ||
        !latin1(PyTuple_GET_ITEM(item, 1), value, "header value"))
      return false;
    if (auto why = protocol::check_header(name, value); !why.empty()) {
      PyErr_Format(PyExc_ValueError, "invalid response header: %s", why.c_str());
      return false;
    }
    head.add_header(name, value);
  }
  head_ = std::move(head);
  return true;
}

PyObject* Response::start_response(PyObject* status, PyObject* headers, PyObject* exc_info) {
  if (exc_info && exc_info != Py_None) {
    if (head_sent_) {
      // Too late to change the response: re-raise the application's error.
      if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
        PyErr_SetString(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple");
        return nullptr;
      }
      PyObject* t = PyTuple_GET_ITEM(exc_info, 0);
      PyObject* v = PyTuple_GET_ITEM(exc_info, 1);
      PyObject* tb = PyTuple_GET_ITEM(exc_info, 2);
      Py_INCREF(t);
      Py_INCREF(v);
      Py_INCREF(tb);
      PyErr_Restore(t, v, tb);
      return nullptr;
    }
  } else if (started_) {
    PyErr_SetString(PyExc_RuntimeError,
                    "start_response() called a second time without exc_info");
    return nullptr;
  }
  if (!set_head(status, headers)) return nullptr;
  started_ = true;
  Py_RETURN_NONE;
}

bool Response::send(std::span<const std::string_view> chunks, bool last) {
  if (finished_) {
    PyErr_SetString(PyExc_RuntimeError, "response already finished");
    return false;
  }
  if (!started_) {
    PyErr_SetString(PyExc_RuntimeError, "response body sent before start_response() was called");
    return false;
  }
  std::vector<std::string_view> pieces;
  pieces.reserve(chunks.size() + 1);
  std::string head_text;
  if (!head_sent_) {
    if (head_.serialized_size() > header_buffer_size_) {
      PyErr_Format(PyExc_ValueError, "response headers exceed header-buffer-size (%zu bytes)",
                   header_buffer_size_);
      return false;
    }
    head_text = head_.serialize();
    pieces.push_back(head_text);
  }
  auto limit = head_.content_length();
  for (auto chunk : chunks) {
    if (limit) {
      std::uint64_t room = *limit > body_sent_ ? *limit - body_sent_ : 0;
      if (chunk.size() > room) chunk = chunk.substr(0, static_cast<size_t>(room));
    }
    if (chunk.empty()) continue;
    pieces.push_back(chunk);
    body_sent_ += chunk.size();
  }
  if (pieces.empty() && !last) return true;
  int code = head_.status_code();
  bool body_allowed = !head_request_ && code != 204 && code != 304 && code >= 200;
  if (last && limit && body_allowed && body_sent_ < *limit) {
    // Ending normally would make a short body look complete to the client.
    log::warning("response ended after {} of the {} bytes its Content-Length promised; "
                 "closing the connection", body_sent_, *limit);
    GilRelease unlocked;
    if (!io_.write(pieces, false)) connection_lost_ = true;
    io_.abort();
    head_sent_ = finished_ = true;
    return true;
  }
  bool ok;
  std::size_t bytes = 0;
  for (auto piece : pieces) bytes += piece.size();
  if (bytes <= kWriteHoldingGil) {
    GilReleasedWhileWaiting waits(io_);
    ok = io_.write(pieces, last);
  } else {
    GilRelease unlocked;  // a long copy into the socket: let other threads run meanwhile
    ok = io_.write(pieces, last);
  }
  head_sent_ = true;
  if (last) finished_ = true;
  if (!ok) {
    connection_lost_ = true;
    PyErr_SetString(PyExc_OSError, "failed to write response data: the frontend closed the connection");
    return false;
  }
  return true;
}

bool Response::finish() {
  if (finished_) return true;
  return send({}, true);
}

}  // namespace wsgi_fpm::python
