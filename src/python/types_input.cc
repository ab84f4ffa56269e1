// wsgi.input (python/types.h): the request body as a Python stream, read
// from the connection through the request's BodyReader with the GIL
// released.
#include "python/types.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "python/body_reader.h"
#include "python/gil.h"
#include "python/types_internal.h"

namespace wsgi_fpm::python {

using types_internal::heap_dealloc;
using types_internal::new_instance;
using types_internal::Types;

namespace {

struct InputStream {
  PyObject_HEAD
  BodyReader* reader;
};

BodyReader* live_reader(PyObject* self) {
  auto* r = reinterpret_cast<InputStream*>(self)->reader;
  if (!r) PyErr_SetString(PyExc_ValueError, "wsgi.input used after its request ended");
  return r;
}

PyObject* read_error() {
  PyErr_SetString(PyExc_OSError, "request data read error: the frontend closed the connection or timed out");
  return nullptr;
}

bool size_argument(PyObject* const* args, Py_ssize_t nargs, Py_ssize_t& size) {
  size = -1;
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "expected at most one argument");
    return false;
  }
  if (nargs == 1 && args[0] != Py_None) {
    size = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
    if (size == -1 && PyErr_Occurred()) return false;
  }
  return true;
}

PyObject* input_read(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  BodyReader* r = live_reader(self);
  if (!r) return nullptr;
  Py_ssize_t size;
  if (!size_argument(args, nargs, size)) return nullptr;
  // read() of a body whose length is known: one bytes object of exactly that
  // size, filled straight from the connection (no intermediate copies).
  if (size < 0 && r->remaining() && *r->remaining() <= static_cast<std::uint64_t>(PY_SSIZE_T_MAX))
    size = static_cast<Py_ssize_t>(*r->remaining());
  if (size >= 0) {
    PyRef out = PyRef::steal(PyBytes_FromStringAndSize(nullptr, size));
    if (!out) return nullptr;
    ssize_t got;
    {
      GilRelease unlocked;
      got = r->read(PyBytes_AS_STRING(out.get()), static_cast<size_t>(size));
    }
    if (got < 0) return read_error();
    if (got != size) {
      PyObject* raw = out.release();
      if (_PyBytes_Resize(&raw, got) < 0) return nullptr;
      return raw;
    }
    return out.release();
  }
  // read() with no size: the application asked for the whole body.
  std::string all(r->buffered());
  r->consume(all.size());
  {
    GilRelease unlocked;
    char chunk[65536];
    ssize_t got;
    while ((got = r->read(chunk, sizeof chunk)) > 0) all.append(chunk, static_cast<size_t>(got));
    if (got < 0) all.clear();
  }
  if (r->failed()) return read_error();
  return PyBytes_FromStringAndSize(all.data(), static_cast<Py_ssize_t>(all.size()));
}

// One line, at most `size` bytes (size < 0: unbounded). nullptr on error.
PyObject* read_line(BodyReader* r, Py_ssize_t size) {
  size_t scanned = 0;
  while (true) {
    auto buf = r->buffered();
    size_t limit = size < 0 ? buf.size() : std::min(buf.size(), static_cast<size_t>(size));
    auto nl = buf.substr(0, limit).find('\n', scanned);
    if (nl != std::string_view::npos || limit < buf.size() ||
        (size >= 0 && buf.size() >= static_cast<size_t>(size))) {
      size_t n = nl != std::string_view::npos ? nl + 1 : limit;
      PyObject* line = PyBytes_FromStringAndSize(buf.data(), static_cast<Py_ssize_t>(n));
      r->consume(n);
      return line;
    }
    scanned = buf.size();
    bool more;
    {
      GilRelease unlocked;
      more = r->fill();
    }
    if (r->failed()) return read_error();
    if (!more) {
      auto rest = r->buffered();
      PyObject* line = PyBytes_FromStringAndSize(rest.data(), static_cast<Py_ssize_t>(rest.size()));
      r->consume(rest.size());
      return line;
    }
  }
}

PyObject* input_readline(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  BodyReader* r = live_reader(self);
  if (!r) return nullptr;
  Py_ssize_t size;
  if (!size_argument(args, nargs, size)) return nullptr;
  return read_line(r, size);
}

PyObject* input_readlines(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  BodyReader* r = live_reader(self);
  if (!r) return nullptr;
  Py_ssize_t hint;
  if (!size_argument(args, nargs, hint)) return nullptr;
  PyRef lines = PyRef::steal(PyList_New(0));
  if (!lines) return nullptr;
  Py_ssize_t total = 0;
  while (true) {
    PyRef line = PyRef::steal(read_line(r, -1));
    if (!line) return nullptr;
    Py_ssize_t n = PyBytes_GET_SIZE(line.get());
    if (n == 0) break;
    if (PyList_Append(lines.get(), line.get()) < 0) return nullptr;
    total += n;
    if (hint > 0 && total >= hint) break;
  }
  return lines.release();
}

PyObject* input_iter(PyObject* self) {
  Py_INCREF(self);
  return self;
}

PyObject* input_next(PyObject* self) {
  BodyReader* r = live_reader(self);
  if (!r) return nullptr;
  PyObject* line = read_line(r, -1);
  if (line && PyBytes_GET_SIZE(line) == 0) {
    Py_DECREF(line);
    return nullptr;  // StopIteration
  }
  return line;
}

PyObject* input_close(PyObject*, PyObject*) { Py_RETURN_NONE; }

PyMethodDef input_methods[] = {
    {"read", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_read)), METH_FASTCALL, "read([size]) -> bytes"},
    {"readline", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_readline)), METH_FASTCALL, "readline([size]) -> bytes"},
    {"readlines", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(input_readlines)), METH_FASTCALL, "readlines([hint]) -> list"},
    {"close", input_close, METH_NOARGS, "no-op: the server owns the stream"},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot input_slots[] = {
    {Py_tp_methods, input_methods},
    {Py_tp_iter, reinterpret_cast<void*>(input_iter)},
    {Py_tp_iternext, reinterpret_cast<void*>(input_next)},
    {Py_tp_dealloc, reinterpret_cast<void*>(heap_dealloc)},
    {Py_tp_doc, const_cast<char*>("wsgi.input: the request body, streamed")},
    {0, nullptr},
};

}  // namespace

namespace types_internal {
PyType_Spec input_spec = {"wsgi_fpm.InputStream", sizeof(InputStream), 0,
                          Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, input_slots};
}  // namespace types_internal

PyRef new_input_stream(BodyReader* reader) {
  PyRef obj = PyRef::steal(new_instance(&Types::input));
  if (obj) reinterpret_cast<InputStream*>(obj.get())->reader = reader;
  return obj;
}

void detach_input_stream(PyObject* stream) {
  reinterpret_cast<InputStream*>(stream)->reader = nullptr;
}

}  // namespace wsgi_fpm::python
