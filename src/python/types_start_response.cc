// start_response and write (python/types.h): the callables PEP 3333 gives
// an application, both passed on to the request's Response.
#include "python/types.h"

#include <string_view>

#include "python/response.h"
#include "python/types_internal.h"

namespace wsgi_fpm::python {

using types_internal::heap_dealloc;
using types_internal::new_instance;
using types_internal::Types;

namespace {

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

}  // namespace

namespace types_internal {
PyType_Spec start_response_spec = {"wsgi_fpm.StartResponse", sizeof(StartResponse), 0,
                                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, start_response_slots};
}  // namespace types_internal

PyRef new_start_response(Response* response) {
  PyRef obj = PyRef::steal(new_instance(&Types::start_response));
  if (obj) reinterpret_cast<StartResponse*>(obj.get())->response = response;
  return obj;
}

void detach_start_response(PyObject* start_response) {
  reinterpret_cast<StartResponse*>(start_response)->response = nullptr;
}

}  // namespace wsgi_fpm::python
