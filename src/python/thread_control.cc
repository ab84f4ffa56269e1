#include "python/thread_control.h"

#include <pythread.h>

#include "python/gil.h"
#include "python/ref.h"
#include "python/runtime.h"
#include "python/types.h"

namespace wsgi_fpm::python {

unsigned long current_thread_ident() { return PyThread_get_thread_ident(); }

bool make_request_timeout_type(std::string& error) { return ready_types(error); }

bool current_exception_is_request_timeout() {
  PyObject* type = request_timeout_type(PyThreadState_Get()->interp);
  return type && PyErr_ExceptionMatches(type);
}

std::string stack_of_thread(PyThreadState* state, PyThreadState* target) {
  GilHold gil(state);
  std::string text;
  PyRef frame = PyRef::steal(reinterpret_cast<PyObject*>(PyThreadState_GetFrame(target)));
  PyRef traceback = frame ? PyRef::steal(PyImport_ImportModule("traceback")) : PyRef();
  if (frame && traceback) {
    PyRef lines = PyRef::steal(PyObject_CallMethod(traceback.get(), "format_stack", "O", frame.get()));
    PyRef empty = PyRef::steal(PyUnicode_FromString(""));
    PyRef joined = lines ? PyRef::steal(PyUnicode_Join(empty.get(), lines.get())) : PyRef();
    const char* s = joined ? PyUnicode_AsUTF8(joined.get()) : nullptr;
    if (s) text = s;
  }
  PyErr_Clear();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

bool interrupt_thread(PyThreadState* state, unsigned long ident) {
  GilHold gil(state);
  PyObject* type = request_timeout_type(state->interp);
  return type && PyThreadState_SetAsyncExc(ident, type) == 1;
}

}  // namespace wsgi_fpm::python
