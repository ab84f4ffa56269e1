// Owned and borrowed Python references. Every PyObject* that this code owns
// lives in a PyRef, so no error path can leak or double-free one. A PyRef may
// only be destroyed while the GIL is held.
#pragma once

#include <Python.h>

#include <utility>

namespace wsgi_fpm::python {

class PyRef {
 public:
  PyRef() = default;
  // Takes ownership of a new reference (what most C API calls return).
  static PyRef steal(PyObject* p) { return PyRef(p); }
  // Adds a reference to a borrowed pointer.
  static PyRef borrow(PyObject* p) {
    Py_XINCREF(p);
    return PyRef(p);
  }
  PyRef(const PyRef& o) : p_(o.p_) { Py_XINCREF(p_); }
  PyRef& operator=(const PyRef& o) {
    PyRef copy(o);
    std::swap(p_, copy.p_);
    return *this;
  }
  PyRef(PyRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  PyRef& operator=(PyRef&& o) noexcept {
    if (this != &o) {
      Py_XDECREF(p_);
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  ~PyRef() { Py_XDECREF(p_); }

  PyObject* get() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  // Hands the reference to a C API call that steals it.
  PyObject* release() { return std::exchange(p_, nullptr); }
  void reset() { Py_CLEAR(p_); }

 private:
  explicit PyRef(PyObject* p) : p_(p) {}
  PyObject* p_ = nullptr;
};

}  // namespace wsgi_fpm::python
