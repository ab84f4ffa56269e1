// The embedded CPython of one worker process: started once, isolated from the
// environment, with no signal handlers of its own (the worker owns signals).
#pragma once

#include <Python.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <set>
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
  // The interpreter this thread last ran code in, and its state there (read
  // by other threads: the request monitor, the GIL heartbeat).
  PyInterpreterState* last_interpreter() const { return last_.load(std::memory_order_relaxed); }
  PyThreadState* last_state() const { return last_state_.load(std::memory_order_relaxed); }

 private:
  PyThreadState* main_;
  std::vector<PyThreadState*> others_;
  std::atomic<PyInterpreterState*> last_{nullptr};
  std::atomic<PyThreadState*> last_state_{nullptr};
};

// Whether this Python can give a sub-interpreter a GIL of its own (PEP 684).
constexpr bool kOwnGilSupported = PY_VERSION_HEX >= 0x030C0000;

// The application groups of one process: named sub-interpreters, "" being
// the main interpreter. Made on first use; ended (atexit handlers run) by
// end_all() at a graceful exit.
//
// A group made with `own_gil` (Python 3.12+, PEP 684) is an isolated
// sub-interpreter with a GIL of its own: its threads run beside those of
// every other interpreter. Isolated means: its own object allocator, no
// os.fork() (subprocess still works), no daemon threads, and only extension
// modules that declare themselves safe for it (others raise ImportError).
class Interpreters {
 public:
  explicit Interpreters(std::vector<std::string> python_path) : python_path_(std::move(python_path)) {}
  // The interpreter called `name`, created if needed (with a GIL of its own
  // if `own_gil`; a group that exists keeps what it was made with). Call
  // without the GIL. nullptr (logged) if Python cannot create it.
  PyInterpreterState* get(const std::string& name, ThreadState& thread, bool own_gil = false);
  // For each sub-interpreter: run `before_end` in it (to drop references),
  // then end it. Call without the GIL, after every request thread is gone,
  // from the thread that owns `main_state`.
  void end_all(PyThreadState* main_state, const std::function<void(PyInterpreterState*)>& before_end);

 private:
  std::vector<std::string> python_path_;
  std::mutex mutex_;  // taken before the GIL, never while holding it
  std::map<std::string, PyInterpreterState*> by_name_;
  std::map<PyInterpreterState*, PyThreadState*> keepers_;
  std::map<std::string, bool> own_gil_;  // as each group was made
  std::set<std::string> mismatch_told_;  // groups an app with the other own-gil asked for
  // Makes the sub-interpreter: returns its first thread state, current and
  // holding its GIL, or nullptr with the calling state current again.
  PyThreadState* create(const std::string& name, bool own_gil);
};

}  // namespace wsgi_fpm::python
