// The registry of python/types.h's types: each interpreter's own, made on
// its first use of them and dropped before it ends. The types themselves
// are in types_input.cc, types_errors.cc, types_start_response.cc and
// types_file_wrapper.cc.
#include "python/types.h"

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "python/runtime.h"
#include "python/types_internal.h"

namespace wsgi_fpm::python {

using types_internal::current_types;
using types_internal::errors_spec;
using types_internal::file_wrapper_spec;
using types_internal::input_spec;
using types_internal::start_response_spec;
using types_internal::Types;

namespace {

std::mutex g_mutex;
std::map<PyInterpreterState*, Types> g_types;  // guarded by g_mutex
// A thread's last lookup, valid while g_generation has not moved (it moves
// when an interpreter's types are dropped).
std::atomic<unsigned> g_generation{0};
thread_local PyInterpreterState* t_interp = nullptr;
thread_local Types* t_types = nullptr;
thread_local unsigned t_generation = 0;

bool make_types(Types& t) {
  t.input = PyType_FromSpec(&input_spec);
  t.errors = PyType_FromSpec(&errors_spec);
  t.start_response = PyType_FromSpec(&start_response_spec);
  t.file_wrapper = PyType_FromSpec(&file_wrapper_spec);
  t.request_timeout = PyErr_NewExceptionWithDoc(
      "wsgi_fpm.RequestTimeout", "Raised in a request thread that ran past request-timeout (as mod_wsgi's).",
      PyExc_BaseException, nullptr);
  if (t.input && t.errors && t.start_response && t.file_wrapper && t.request_timeout) return true;
  t.clear();
  return false;
}

}  // namespace

namespace types_internal {

Types* current_types() {
  PyInterpreterState* interp = PyThreadState_Get()->interp;
  unsigned generation = g_generation.load(std::memory_order_acquire);
  if (interp == t_interp && generation == t_generation) return t_types;
  Types* found;
  {
    std::lock_guard lock(g_mutex);
    found = &g_types[interp];
  }
  // Only threads holding this interpreter's GIL make or drop its types.
  if (!found->input && !make_types(*found)) return nullptr;
  t_interp = interp;
  t_types = found;
  t_generation = generation;
  return found;
}

PyObject* new_instance(PyObject* Types::*type) {
  Types* t = current_types();
  return t ? PyType_GenericAlloc(reinterpret_cast<PyTypeObject*>(t->*type), 0) : nullptr;
}

}  // namespace types_internal

bool ready_types(std::string& error) {
  if (current_types()) return true;
  error = "cannot make wsgi-fpm's Python types: " + format_current_exception();
  return false;
}

void forget_types() {
  PyInterpreterState* interp = PyThreadState_Get()->interp;
  Types dropped;
  {
    std::lock_guard lock(g_mutex);
    auto it = g_types.find(interp);
    if (it == g_types.end()) return;
    dropped = it->second;
    g_types.erase(it);
    g_generation.fetch_add(1, std::memory_order_acq_rel);
  }
  dropped.clear();
}

void forget_types_after_fork() {
  // The child of a fork has the main interpreter alone (PyOS_AfterFork_Child
  // deleted the others, and their objects with them).
  std::lock_guard lock(g_mutex);
  std::erase_if(g_types, [](const auto& entry) { return entry.first != PyInterpreterState_Main(); });
  g_generation.fetch_add(1, std::memory_order_acq_rel);
}

PyObject* request_timeout_type(PyInterpreterState* interp) {
  std::lock_guard lock(g_mutex);
  auto it = g_types.find(interp);
  return it == g_types.end() ? nullptr : it->second.request_timeout;
}

}  // namespace wsgi_fpm::python
