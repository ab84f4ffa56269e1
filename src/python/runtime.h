// The embedded CPython of one worker process: started once, isolated from the
// environment, with no signal handlers of its own (the worker owns signals).
#pragma once

#include <Python.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace wsgi_fpm::python {

struct RuntimeOptions {
  std::string python_home;               // a virtualenv (or prefix); empty: the system Python
  std::vector<std::string> python_path;  // added with site.addsitedir, as mod_wsgi does
  std::string program_name;              // empty: the interpreter wsgi-fpm was built against
  double switch_interval = 0;            // sys.setswitchinterval (switch-interval); 0: default
  // False: no `site` (sys.path without site-packages, no .pth files).
  bool import_site = true;
};

// Starts Python in the calling (main) thread and releases the GIL. Returns
// the main thread's state, for finalize(). nullptr with `error` on failure.
PyThreadState* start_runtime(const RuntimeOptions& options, std::string& error);

// In a worker forked from the zygote, once it is its pool's user: what
// start_runtime would have done for this pool and the zygote did not.
// os.environ (and the C library's environ) becomes `environment`
// (NAME=value), then python-path and switch-interval apply as start_runtime
// applies them. Call without the GIL. False with `error`.
bool settle_forked_runtime(PyThreadState* main_state, const RuntimeOptions& options,
                           const std::vector<std::string>& environment, std::string& error);

// Runs atexit handlers and finalizes. Call from the thread that started the
// runtime, after every request thread has dropped its thread state.
void finalize_runtime(PyThreadState* main_state);

// The traceback of the current exception as text, clearing it. GIL held.
std::string format_current_exception();

// One request thread's Python thread states: one per interpreter the thread
// has run code in, made on first use and kept for the thread's life (mod_wsgi
// does the same), deleted by the destructor.
class ThreadState {
 public:
  ThreadState();
  ~ThreadState();
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;
  // The main interpreter's.
  PyThreadState* get() const { return main_; }
  // The state for `interp`, made if this thread has none yet.
  PyThreadState* for_interpreter(PyInterpreterState* interp);
  // The interpreter this thread last ran code in (read by other threads).
  PyInterpreterState* last_interpreter() const { return last_.load(std::memory_order_relaxed); }

 private:
  PyThreadState* main_;
  std::vector<PyThreadState*> others_;
  std::atomic<PyInterpreterState*> last_{nullptr};
};

// The application groups of one process: named sub-interpreters, "" being
// the main interpreter. Made on first use; ended (atexit handlers run) by
// end_all() at a graceful exit.
class Interpreters {
 public:
  explicit Interpreters(std::vector<std::string> python_path) : python_path_(std::move(python_path)) {}
  // The interpreter called `name`, created if needed. Call without the GIL.
  // nullptr (logged) if Python cannot create it.
  PyInterpreterState* get(const std::string& name, ThreadState& thread);
  // For each sub-interpreter: run `before_end` in it (to drop references),
  // then end it. Call without the GIL, after every request thread is gone,
  // from the thread that owns `main_state`.
  void end_all(PyThreadState* main_state, const std::function<void(PyInterpreterState*)>& before_end);

 private:
  std::vector<std::string> python_path_;
  std::mutex mutex_;  // taken before the GIL, never while holding it
  std::map<std::string, PyInterpreterState*> by_name_;
  std::map<PyInterpreterState*, PyThreadState*> keepers_;
};

}  // namespace wsgi_fpm::python
