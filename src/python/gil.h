// Who holds the GIL, visible at a glance.
//
// Each request thread owns one PyThreadState per interpreter it runs code in
// (made once, kept for the thread's life). PyGILState_* is never used: it
// knows only the main interpreter.
#pragma once

#include <Python.h>

namespace wsgi_fpm::python {

// Holds the GIL with `state` for the guard's scope.
class GilHold {
 public:
  explicit GilHold(PyThreadState* state) : state_(state) { PyEval_RestoreThread(state_); }
  ~GilHold() { PyEval_SaveThread(); }
  GilHold(const GilHold&) = delete;
  GilHold& operator=(const GilHold&) = delete;

 private:
  PyThreadState* state_;
};

// Releases the GIL for the guard's scope: wrap every call that may block.
class GilRelease {
 public:
  GilRelease() : saved_(PyEval_SaveThread()) {}
  ~GilRelease() { PyEval_RestoreThread(saved_); }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  PyThreadState* saved_;
};

}  // namespace wsgi_fpm::python
