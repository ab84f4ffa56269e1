// The Python types a request hands to an application: wsgi.input,
// wsgi.errors, start_response (with write) and wsgi.file_wrapper, and
// mod_wsgi's RequestTimeout. Each object points at C++ state that lives
// exactly as long as the request, and is detached when the request ends so
// an application that keeps one gets an error, never a dangling pointer.
//
// Heap types, made in each interpreter (application group) on its first use
// of them, not static types shared by all: an object of one interpreter must
// not reach another, which would touch its reference count under the other's
// lock once interpreters have a GIL each (PEP 684). The functions below use
// the current interpreter's; GIL held.
#pragma once

#include <Python.h>

#include <string>

#include "python/ref.h"

namespace wsgi_fpm::python {

class BodyReader;
class Response;

// types.cc: each interpreter's types.
// Makes the current interpreter's types if it has none yet.
bool ready_types(std::string& error);
// Drops the current interpreter's types: before it ends.
void forget_types();
// In the child of a fork, which has the main interpreter alone.
void forget_types_after_fork();
// `interp`'s RequestTimeout (borrowed), or nullptr if it has no types yet.
PyObject* request_timeout_type(PyInterpreterState* interp);

// types_input.cc
PyRef new_input_stream(BodyReader* reader);
void detach_input_stream(PyObject* stream);

// types_errors.cc
PyRef new_error_stream();
void flush_error_stream(PyObject* stream);

// types_start_response.cc
PyRef new_start_response(Response* response);
void detach_start_response(PyObject* start_response);

// types_file_wrapper.cc
PyTypeObject* file_wrapper_type();  // nullptr with a Python exception set if it cannot be made
// The file-like object wrapped by a wsgi.file_wrapper result, borrowed.
PyObject* file_wrapper_filelike(PyObject* wrapper);
Py_ssize_t file_wrapper_block_size(PyObject* wrapper);

}  // namespace wsgi_fpm::python
