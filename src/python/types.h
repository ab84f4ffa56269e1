// The Python types a request hands to an application: wsgi.input,
// wsgi.errors, start_response (with write) and wsgi.file_wrapper. Static
// types, readied once; each object points at C++ state that lives exactly as
// long as the request, and is detached when the request ends so an
// application that keeps one gets an error, never a dangling pointer.
#pragma once

#include <Python.h>

#include <string>

#include "python/ref.h"

namespace wsgi_fpm::python {

class BodyReader;
class Response;

bool ready_types(std::string& error);

PyRef new_input_stream(BodyReader* reader);
void detach_input_stream(PyObject* stream);

PyRef new_error_stream();
void flush_error_stream(PyObject* stream);

PyRef new_start_response(Response* response);
void detach_start_response(PyObject* start_response);

PyTypeObject* file_wrapper_type();
// The file-like object wrapped by a wsgi.file_wrapper result, borrowed.
PyObject* file_wrapper_filelike(PyObject* wrapper);
Py_ssize_t file_wrapper_block_size(PyObject* wrapper);

}  // namespace wsgi_fpm::python
