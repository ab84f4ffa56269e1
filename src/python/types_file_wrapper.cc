// wsgi.file_wrapper (python/types.h): PEP 3333's optional file wrapper, an
// iterable that reads a file-like object a block at a time.
#include "python/types.h"

#include "python/types_internal.h"

namespace wsgi_fpm::python {

using types_internal::current_types;
using types_internal::heap_dealloc;
using types_internal::Types;

namespace {

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

}  // namespace

namespace types_internal {
PyType_Spec file_wrapper_spec = {"wsgi_fpm.FileWrapper", sizeof(FileWrapper), 0, Py_TPFLAGS_DEFAULT,
                                 file_wrapper_slots};
}  // namespace types_internal

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
