// Who holds the GIL, visible at a glance.
//
// Each request thread owns one PyThreadState per interpreter it runs code in
// (made once, kept for the thread's life). PyGILState_* is never used: it
// knows only the main interpreter.
#pragma once

#include <Python.h>

#include "python/request_io.h"

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

// Keeps the GIL across calls on `io` for the guard's scope, releasing it only
// while `io` waits for its socket. For calls that are normally quick (a
// response that fits the socket buffer); a long copy should use GilRelease.
class GilReleasedWhileWaiting {
 public:
  explicit GilReleasedWhileWaiting(RequestIo& io) : io_(io) {
    io_.set_wait_hooks({&release, &restore, this});
  }
  ~GilReleasedWhileWaiting() { io_.set_wait_hooks({}); }
  GilReleasedWhileWaiting(const GilReleasedWhileWaiting&) = delete;
  GilReleasedWhileWaiting& operator=(const GilReleasedWhileWaiting&) = delete;

 private:
  static void release(void* self) { static_cast<GilReleasedWhileWaiting*>(self)->saved_ = PyEval_SaveThread(); }
  static void restore(void* self) { PyEval_RestoreThread(static_cast<GilReleasedWhileWaiting*>(self)->saved_); }
  RequestIo& io_;
  PyThreadState* saved_ = nullptr;
};

}  // namespace wsgi_fpm::python
