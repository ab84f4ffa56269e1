// The embedded CPython of one worker process: started once, isolated from the
// environment, with no signal handlers of its own (the worker owns signals).
#pragma once

#include <Python.h>

#include <string>
#include <vector>

namespace wsgi_fpm::python {

struct RuntimeOptions {
  std::string python_home;               // a virtualenv (or prefix); empty: the system Python
  std::vector<std::string> python_path;  // added with site.addsitedir, as mod_wsgi does
  std::string program_name;              // empty: the interpreter wsgi-fpm was built against
};

// Starts Python in the calling (main) thread and releases the GIL. Returns
// the main thread's state, for finalize(). nullptr with `error` on failure.
PyThreadState* start_runtime(const RuntimeOptions& options, std::string& error);

// Runs atexit handlers and finalizes. Call from the thread that started the
// runtime, after every request thread has dropped its thread state.
void finalize_runtime(PyThreadState* main_state);

// The traceback of the current exception as text, clearing it. GIL held.
std::string format_current_exception();

// One request thread's state for the main interpreter, made on first use and
// kept for the thread's life (deleted by the destructor).
class ThreadState {
 public:
  ThreadState();
  ~ThreadState();
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;
  PyThreadState* get() const { return state_; }

 private:
  PyThreadState* state_;
};

}  // namespace wsgi_fpm::python
