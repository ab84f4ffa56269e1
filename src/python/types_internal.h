// What python/types.cc (each interpreter's types) and the files of the types
// themselves (types_input.cc, types_errors.cc, types_start_response.cc,
// types_file_wrapper.cc) share. Internal to them.
#pragma once

#include <Python.h>

namespace wsgi_fpm::python::types_internal {

// An instance of a heap type holds a reference to its type.
inline void heap_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

// Each type's spec, in the file of that type.
extern PyType_Spec input_spec;
extern PyType_Spec errors_spec;
extern PyType_Spec start_response_spec;
extern PyType_Spec file_wrapper_spec;

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

// The current interpreter's types, made on first use; nullptr with a Python
// exception set if they cannot be. GIL held.
Types* current_types();
// A new object of one of the current interpreter's types; nullptr with a
// Python exception set if it cannot be made. GIL held.
PyObject* new_instance(PyObject* Types::*type);

}  // namespace wsgi_fpm::python::types_internal
