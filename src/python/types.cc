#include "python/types.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <cstring>
#include <string_view>

#include "python/body_reader.h"
#include "python/gil.h"
#include "python/response.h"
#include "python/runtime.h"
#include "util/log.h"

namespace wsgi_fpm::python {
namespace {

// An instance of a heap type holds a reference to its type.
void heap_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

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

PyType_Slot input_slots[] = {
    {Py_tp_methods, input_methods},
    {Py_tp_iter, reinterpret_cast<void*>(input_iter)},
    {Py_tp_iternext, reinterpret_cast<void*>(input_next)},
    {Py_tp_dealloc, reinterpret_cast<void*>(heap_dealloc)},
    {Py_tp_doc, const_cast<char*>("wsgi.input: the request body, streamed")},
    {0, nullptr},
};
PyType_Spec input_spec = {"wsgi_fpm.InputStream", sizeof(InputStream), 0,
                          Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, input_slots};

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
  heap_dealloc(self);
}

PyMethodDef errors_methods[] = {
    {"write", errors_write, METH_O, "write(str)"},
    {"writelines", errors_writelines, METH_O, "writelines(iterable of str)"},
    {"flush", errors_flush, METH_NOARGS, "flush()"},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot errors_slots[] = {
    {Py_tp_methods, errors_methods},
    {Py_tp_dealloc, reinterpret_cast<void*>(errors_dealloc)},
    {Py_tp_doc, const_cast<char*>("wsgi.errors: lines go to the pool's error log")},
    {0, nullptr},
};
PyType_Spec errors_spec = {"wsgi_fpm.ErrorStream", sizeof(ErrorStream), 0,
                           Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, errors_slots};

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

PyType_Slot start_response_slots[] = {
    {Py_tp_methods, start_response_methods},
    {Py_tp_call, reinterpret_cast<void*>(start_response_call)},
    {Py_tp_dealloc, reinterpret_cast<void*>(heap_dealloc)},
    {Py_tp_doc, const_cast<char*>("start_response(status, response_headers, exc_info=None)")},
    {0, nullptr},
};
PyType_Spec start_response_spec = {"wsgi_fpm.StartResponse", sizeof(StartResponse), 0,
                                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, start_response_slots};

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
  heap_dealloc(self);
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

PyType_Slot file_wrapper_slots[] = {
    {Py_tp_methods, file_wrapper_methods},
    {Py_tp_init, reinterpret_cast<void*>(file_wrapper_init)},
    {Py_tp_new, reinterpret_cast<void*>(PyType_GenericNew)},
    {Py_tp_dealloc, reinterpret_cast<void*>(file_wrapper_dealloc)},
    {Py_tp_iter, reinterpret_cast<void*>(PyObject_SelfIter)},
    {Py_tp_iternext, reinterpret_cast<void*>(file_wrapper_next)},
    {Py_tp_doc, const_cast<char*>("wsgi.file_wrapper(filelike, blksize=8192)")},
    {0, nullptr},
};
PyType_Spec file_wrapper_spec = {"wsgi_fpm.FileWrapper", sizeof(FileWrapper), 0, Py_TPFLAGS_DEFAULT,
                                 file_wrapper_slots};

// One interpreter's types, made from the specs above in it.
struct Types {
  PyObject* input = nullptr;
  PyObject* errors = nullptr;
  PyObject* start_response = nullptr;
  PyObject* file_wrapper = nullptr;
  PyObject* request_timeout = nullptr;
  void clear() {
    for (PyObject** t : {&input, &errors, &start_response, &file_wrapper, &request_timeout}) Py_CLEAR(*t);
  }
};

std::mutex g_mutex;
std::map<PyInterpreterState*, Types> g_types;  // guarded by g_mutex
// A thread's last lookup, valid while g_generation has not moved (it moves
// when an interpreter's types are dropped).
std::atomic<unsigned> g_generation{0};
thread_local PyInterpreterState* t_interp = nullptr;
thread_local Types* t_types = nullptr;
thread_local unsigned t_generation = 0;

bool make_types(Types& t) {
  t.input = PyType_FromSpec(&input_spec);
  t.errors = PyType_FromSpec(&errors_spec);
  t.start_response = PyType_FromSpec(&start_response_spec);
  t.file_wrapper = PyType_FromSpec(&file_wrapper_spec);
  t.request_timeout = PyErr_NewExceptionWithDoc(
      "wsgi_fpm.RequestTimeout", "Raised in a request thread that ran past request-timeout (as mod_wsgi's).",
      PyExc_BaseException, nullptr);
  if (t.input && t.errors && t.start_response && t.file_wrapper && t.request_timeout) return true;
  t.clear();
  return false;
}

// The current interpreter's types, made on first use; nullptr with a Python
// exception set if they cannot be. GIL held.
Types* current_types() {
  PyInterpreterState* interp = PyThreadState_Get()->interp;
  unsigned generation = g_generation.load(std::memory_order_acquire);
  if (interp == t_interp && generation == t_generation) return t_types;
  Types* found;
  {
    std::lock_guard lock(g_mutex);
    found = &g_types[interp];
  }
  // Only threads holding this interpreter's GIL make or drop its types.
  if (!found->input && !make_types(*found)) return nullptr;
  t_interp = interp;
  t_types = found;
  t_generation = generation;
  return found;
}

PyObject* new_instance(PyObject* Types::*type) {
  Types* t = current_types();
  return t ? PyType_GenericAlloc(reinterpret_cast<PyTypeObject*>(t->*type), 0) : nullptr;
}

}  // namespace

bool ready_types(std::string& error) {
  if (current_types()) return true;
  error = "cannot make wsgi-fpm's Python types: " + format_current_exception();
  return false;
}

void forget_types() {
  PyInterpreterState* interp = PyThreadState_Get()->interp;
  Types dropped;
  {
    std::lock_guard lock(g_mutex);
    auto it = g_types.find(interp);
    if (it == g_types.end()) return;
    dropped = it->second;
    g_types.erase(it);
    g_generation.fetch_add(1, std::memory_order_acq_rel);
  }
  dropped.clear();
}

void forget_types_after_fork() {
  // The child of a fork has the main interpreter alone (PyOS_AfterFork_Child
  // deleted the others, and their objects with them).
  std::lock_guard lock(g_mutex);
  std::erase_if(g_types, [](const auto& entry) { return entry.first != PyInterpreterState_Main(); });
  g_generation.fetch_add(1, std::memory_order_acq_rel);
}

PyObject* request_timeout_type(PyInterpreterState* interp) {
  std::lock_guard lock(g_mutex);
  auto it = g_types.find(interp);
  return it == g_types.end() ? nullptr : it->second.request_timeout;
}

PyRef new_input_stream(BodyReader* reader) {
  PyRef obj = PyRef::steal(new_instance(&Types::input));
  if (obj) reinterpret_cast<InputStream*>(obj.get())->reader = reader;
  return obj;
}

void detach_input_stream(PyObject* stream) {
  reinterpret_cast<InputStream*>(stream)->reader = nullptr;
}

PyRef new_error_stream() {
  PyRef obj = PyRef::steal(new_instance(&Types::errors));
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
  PyRef obj = PyRef::steal(new_instance(&Types::start_response));
  if (obj) reinterpret_cast<StartResponse*>(obj.get())->response = response;
  return obj;
}

void detach_start_response(PyObject* start_response) {
  reinterpret_cast<StartResponse*>(start_response)->response = nullptr;
}

PyTypeObject* file_wrapper_type() {
  Types* t = current_types();
  return t ? reinterpret_cast<PyTypeObject*>(t->file_wrapper) : nullptr;
}

PyObject* file_wrapper_filelike(PyObject* wrapper) {
  return reinterpret_cast<FileWrapper*>(wrapper)->filelike;
}

Py_ssize_t file_wrapper_block_size(PyObject* wrapper) {
  return reinterpret_cast<FileWrapper*>(wrapper)->block_size;
}

}  // namespace wsgi_fpm::python
