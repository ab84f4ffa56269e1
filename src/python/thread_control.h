// Reaching into a stuck request thread from outside it (request-timeout):
// its Python stack for the log, and mod_wsgi's RequestTimeout injected into it.
#pragma once

#include <Python.h>

#include <string>

namespace wsgi_fpm::python {

// The calling thread's identifier as Python knows it (threading.get_ident()).
unsigned long current_thread_ident();

// Makes wsgi_fpm.RequestTimeout (a BaseException) in the current
// interpreter, with its other types (types.h). GIL held.
bool make_request_timeout_type(std::string& error);
// True if the current exception is a RequestTimeout. GIL held.
bool current_exception_is_request_timeout();

// The Python stack that thread state `target` runs, formatted as a
// traceback; "" if it has no Python frame. Takes the GIL with `state`, a
// state of the calling thread in target's interpreter: the stack is read in
// that interpreter, under its GIL (sys._current_frames, in another one,
// would make frame objects of interpreters running beside it under GILs of
// their own).
std::string stack_of_thread(PyThreadState* state, PyThreadState* target);

// Raises RequestTimeout in thread `ident` at its next bytecode. Takes the GIL.
bool interrupt_thread(PyThreadState* state, unsigned long ident);

}  // namespace wsgi_fpm::python
