#include "python/types.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "python/body_reader.h"
#include "python/gil.h"
#include "python/response.h"
#include "util/log.h"

namespace wsgi_fpm::python {
namespace {

// --- wsgi.input ----------------------------------------------------------

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

PyTypeObject InputStreamType = {PyVarObject_HEAD_INIT(nullptr, 0)};

// --- wsgi.errors ----------------------------------------------------------

struct ErrorStream {
  PyObject_HEAD
  std::string* pending;  // a partial line, logged once its newline arrives
};

void errors_emit(ErrorStream* s, bool all) {
  std::string& p = *s->pending;
  auto cut = all ? p.size() : p.rfind('\n') + 1;
  if (cut == 0 || (cut == std::string::npos)) return;
  std::string text = p.substr(0, cut);
  p.erase(0, cut);
  if (!text.empty()) log::write_lines(log::Level::Error, text);
}

PyObject* errors_write(PyObject* self, PyObject* arg) {
  auto* s = reinterpret_cast<ErrorStream*>(self);
  if (!PyUnicode_Check(arg)) {
    PyErr_Format(PyExc_TypeError, "wsgi.errors.write() argument must be str, not %.100s",
                 Py_TYPE(arg)->tp_name);
    return nullptr;
  }
  Py_ssize_t n = 0;
  const char* text = PyUnicode_AsUTF8AndSize(arg, &n);
  if (!text) return nullptr;
  s->pending->append(text, static_cast<size_t>(n));
  if (s->pending->find('\n') != std::string::npos) errors_emit(s, false);
  return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(arg));
}

PyObject* errors_writelines(PyObject* self, PyObject* seq) {
  PyRef it = PyRef::steal(PyObject_GetIter(seq));
  if (!it) return nullptr;
  while (PyRef line = PyRef::steal(PyIter_Next(it.get()))) {
    PyRef r = PyRef::steal(errors_write(self, line.get()));
    if (!r) return nullptr;
  }
  if (PyErr_Occurred()) return nullptr;
  Py_RETURN_NONE;
}

PyObject* errors_flush(PyObject* self, PyObject*) {
  errors_emit(reinterpret_cast<ErrorStream*>(self), true);
  Py_RETURN_NONE;
}

void errors_dealloc(PyObject* self) {
  auto* s = reinterpret_cast<ErrorStream*>(self);
  errors_emit(s, true);
  delete s->pending;
  Py_TYPE(self)->tp_free(self);
}

PyMethodDef errors_methods[] = {
    {"write", errors_write, METH_O, "write(str)"},
    {"writelines", errors_writelines, METH_O, "writelines(iterable of str)"},
    {"flush", errors_flush, METH_NOARGS, "flush()"},
    {nullptr, nullptr, 0, nullptr},
};

PyTypeObject ErrorStreamType = {PyVarObject_HEAD_INIT(nullptr, 0)};

// --- start_response and write ---------------------------------------------

struct StartResponse {
  PyObject_HEAD
  Response* response;
};

Response* live_response(PyObject* self) {
  auto* r = reinterpret_cast<StartResponse*>(self)->response;
  if (!r) PyErr_SetString(PyExc_RuntimeError, "start_response used after its request ended");
  return r;
}

PyObject* start_response_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"status", "response_headers", "exc_info", nullptr};
  PyObject *status, *headers, *exc_info = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response", const_cast<char**>(keywords),
                                   &status, &headers, &exc_info))
    return nullptr;
  Response* r = live_response(self);
  if (!r) return nullptr;
  PyRef result = PyRef::steal(r->start_response(status, headers, exc_info));
  if (!result) return nullptr;
  return PyObject_GetAttrString(self, "write");
}

PyObject* start_response_write(PyObject* self, PyObject* data) {
  Response* r = live_response(self);
  if (!r) return nullptr;
  if (!PyBytes_Check(data)) {
    PyErr_Format(PyExc_TypeError, "write() argument must be bytes, not %.100s", Py_TYPE(data)->tp_name);
    return nullptr;
  }
  std::string_view chunk(PyBytes_AS_STRING(data), static_cast<size_t>(PyBytes_GET_SIZE(data)));
  if (!r->send({&chunk, 1}, false)) return nullptr;
  Py_RETURN_NONE;
}

PyMethodDef start_response_methods[] = {
    {"write", start_response_write, METH_O, "write(bytes): the PEP 3333 write() callable"},
    {nullptr, nullptr, 0, nullptr},
};

PyTypeObject StartResponseType = {PyVarObject_HEAD_INIT(nullptr, 0)};

// --- wsgi.file_wrapper ------------------------------------------------------

struct FileWrapper {
  PyObject_HEAD
  PyObject* filelike;
  Py_ssize_t block_size;
};

int file_wrapper_init(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"filelike", "blksize", nullptr};
  auto* w = reinterpret_cast<FileWrapper*>(self);
  PyObject* filelike;
  Py_ssize_t block_size = 8192;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|n:file_wrapper", const_cast<char**>(keywords),
                                   &filelike, &block_size))
    return -1;
  if (block_size <= 0) {
    PyErr_SetString(PyExc_ValueError, "blksize must be positive");
    return -1;
  }
  Py_INCREF(filelike);
  Py_XSETREF(w->filelike, filelike);
  w->block_size = block_size;
  return 0;
}

void file_wrapper_dealloc(PyObject* self) {
  Py_CLEAR(reinterpret_cast<FileWrapper*>(self)->filelike);
  Py_TYPE(self)->tp_free(self);
}

PyObject* file_wrapper_next(PyObject* self) {
  auto* w = reinterpret_cast<FileWrapper*>(self);
  if (!w->filelike) return nullptr;
  PyRef data = PyRef::steal(PyObject_CallMethod(w->filelike, "read", "n", w->block_size));
  if (!data) return nullptr;
  if (!PyBytes_Check(data.get())) {
    PyErr_SetString(PyExc_TypeError, "file_wrapper: read() of the wrapped file must return bytes");
    return nullptr;
  }
  if (PyBytes_GET_SIZE(data.get()) == 0) return nullptr;
  return data.release();
}

PyObject* file_wrapper_close(PyObject* self, PyObject*) {
  auto* w = reinterpret_cast<FileWrapper*>(self);
  if (w->filelike && PyObject_HasAttrString(w->filelike, "close")) {
    PyRef r = PyRef::steal(PyObject_CallMethod(w->filelike, "close", nullptr));
    if (!r) return nullptr;
  }
  Py_RETURN_NONE;
}

PyMethodDef file_wrapper_methods[] = {
    {"close", file_wrapper_close, METH_NOARGS, "close the wrapped file"},
    {nullptr, nullptr, 0, nullptr},
};

PyTypeObject FileWrapperType = {PyVarObject_HEAD_INIT(nullptr, 0)};

bool ready(PyTypeObject& type, std::string& error) {
  if (PyType_Ready(&type) < 0) {
    error = std::string("cannot ready type ") + type.tp_name;
    return false;
  }
  return true;
}

}  // namespace

bool ready_types(std::string& error) {
  InputStreamType.tp_name = "wsgi_fpm.InputStream";
  InputStreamType.tp_basicsize = sizeof(InputStream);
  InputStreamType.tp_flags = Py_TPFLAGS_DEFAULT;
  InputStreamType.tp_methods = input_methods;
  InputStreamType.tp_iter = input_iter;
  InputStreamType.tp_iternext = input_next;
  InputStreamType.tp_doc = "wsgi.input: the request body, streamed";

  ErrorStreamType.tp_name = "wsgi_fpm.ErrorStream";
  ErrorStreamType.tp_basicsize = sizeof(ErrorStream);
  ErrorStreamType.tp_flags = Py_TPFLAGS_DEFAULT;
  ErrorStreamType.tp_methods = errors_methods;
  ErrorStreamType.tp_dealloc = errors_dealloc;
  ErrorStreamType.tp_doc = "wsgi.errors: lines go to the pool's error log";

  StartResponseType.tp_name = "wsgi_fpm.StartResponse";
  StartResponseType.tp_basicsize = sizeof(StartResponse);
  StartResponseType.tp_flags = Py_TPFLAGS_DEFAULT;
  StartResponseType.tp_methods = start_response_methods;
  StartResponseType.tp_call = start_response_call;
  StartResponseType.tp_doc = "start_response(status, response_headers, exc_info=None)";

  FileWrapperType.tp_name = "wsgi_fpm.FileWrapper";
  FileWrapperType.tp_basicsize = sizeof(FileWrapper);
  FileWrapperType.tp_flags = Py_TPFLAGS_DEFAULT;
  FileWrapperType.tp_methods = file_wrapper_methods;
  FileWrapperType.tp_init = file_wrapper_init;
  FileWrapperType.tp_new = PyType_GenericNew;
  FileWrapperType.tp_dealloc = file_wrapper_dealloc;
  FileWrapperType.tp_iter = PyObject_SelfIter;
  FileWrapperType.tp_iternext = file_wrapper_next;
  FileWrapperType.tp_doc = "wsgi.file_wrapper(filelike, blksize=8192)";

  return ready(InputStreamType, error) && ready(ErrorStreamType, error) &&
         ready(StartResponseType, error) && ready(FileWrapperType, error);
}

PyRef new_input_stream(BodyReader* reader) {
  PyRef obj = PyRef::steal(PyType_GenericAlloc(&InputStreamType, 0));
  if (obj) reinterpret_cast<InputStream*>(obj.get())->reader = reader;
  return obj;
}

void detach_input_stream(PyObject* stream) {
  reinterpret_cast<InputStream*>(stream)->reader = nullptr;
}

PyRef new_error_stream() {
  PyRef obj = PyRef::steal(PyType_GenericAlloc(&ErrorStreamType, 0));
  if (obj) {
    auto* s = reinterpret_cast<ErrorStream*>(obj.get());
    s->pending = new std::string();
  }
  return obj;
}

void flush_error_stream(PyObject* stream) {
  errors_emit(reinterpret_cast<ErrorStream*>(stream), true);
}

PyRef new_start_response(Response* response) {
  PyRef obj = PyRef::steal(PyType_GenericAlloc(&StartResponseType, 0));
  if (obj) reinterpret_cast<StartResponse*>(obj.get())->response = response;
  return obj;
}

void detach_start_response(PyObject* start_response) {
  reinterpret_cast<StartResponse*>(start_response)->response = nullptr;
}

PyTypeObject* file_wrapper_type() { return &FileWrapperType; }

PyObject* file_wrapper_filelike(PyObject* wrapper) {
  return reinterpret_cast<FileWrapper*>(wrapper)->filelike;
}

Py_ssize_t file_wrapper_block_size(PyObject* wrapper) {
  return reinterpret_cast<FileWrapper*>(wrapper)->block_size;
}

}  // namespace wsgi_fpm::python
