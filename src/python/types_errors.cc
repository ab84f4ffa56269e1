// wsgi.errors (python/types.h): what an application writes to it goes to
// the pool's error log, a line at a time.
#include "python/types.h"

#include <string>

#include "python/types_internal.h"
#include "util/log.h"

namespace wsgi_fpm::python {

using types_internal::heap_dealloc;
using types_internal::new_instance;
using types_internal::Types;

namespace {

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

}  // namespace

namespace types_internal {
PyType_Spec errors_spec = {"wsgi_fpm.ErrorStream", sizeof(ErrorStream), 0,
                           Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, errors_slots};
}  // namespace types_internal

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

}  // namespace wsgi_fpm::python
