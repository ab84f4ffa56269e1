#include "python/runtime.h"

#include <unistd.h>

#include <map>
#include <string_view>

#include "build_config.h"
#include "python/gil.h"
#include "python/ref.h"
#include "python/types.h"
#include "util/log.h"

namespace wsgi_fpm::python {
namespace {

PyInterpreterState* g_main_interpreter = nullptr;

bool check_status(PyStatus status, std::string& error) {
  if (PyStatus_Exception(status)) {
    error = status.err_msg ? status.err_msg : "Python initialization failed";
    if (status.func) error = std::string(status.func) + ": " + error;
    return false;
  }
  return true;
}

// mod_wsgi adds python-path entries with site.addsitedir so .pth files work.
bool add_site_dirs(const std::vector<std::string>& dirs, std::string& error) {
  if (dirs.empty()) return true;
  PyRef site = PyRef::steal(PyImport_ImportModule("site"));
  if (!site) {
    error = "import site: " + format_current_exception();
    return false;
  }
  for (const auto& dir : dirs) {
    PyRef r = PyRef::steal(PyObject_CallMethod(site.get(), "addsitedir", "s", dir.c_str()));
    if (!r) {
      error = "site.addsitedir(" + dir + "): " + format_current_exception();
      return false;
    }
  }
  return true;
}

// python-path and switch-interval, the pool's own settings of a started
// interpreter. GIL held.
bool apply_pool_settings(const RuntimeOptions& options, std::string& error) {
  if (!add_site_dirs(options.python_path, error)) return false;
  if (options.switch_interval > 0) {
    PyRef sys = PyRef::steal(PyImport_ImportModule("sys"));
    PyRef r = sys ? PyRef::steal(PyObject_CallMethod(sys.get(), "setswitchinterval", "d", options.switch_interval))
                  : PyRef();
    if (!r) {
      error = "switch-interval: " + format_current_exception();
      return false;
    }
  }
  return true;
}

}  // namespace

PyThreadState* start_runtime(const RuntimeOptions& options, std::string& error) {
  PyConfig config;
  // Isolated: no PYTHON* environment variables, no user site, no signal handlers.
  PyConfig_InitIsolatedConfig(&config);
  config.install_signal_handlers = 0;
  config.site_import = options.import_site ? 1 : 0;
  config.write_bytecode = 0;  // tenants' code trees may be read-only to them
  // A virtualenv is found the way the venv's own interpreter finds it: through
  // pyvenv.cfg beside its bin/python.
  std::string program = options.program_name;
  if (program.empty()) {
    program = options.python_home.empty() ? std::string(WSGI_FPM_PYTHON_EXECUTABLE)
                                          : options.python_home + "/bin/python";
  }
  PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, program.c_str());
  if (!check_status(status, error)) {
    PyConfig_Clear(&config);
    return nullptr;
  }
  status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (!check_status(status, error)) return nullptr;

  if (!ready_types(error) || !apply_pool_settings(options, error)) {
    Py_FinalizeEx();
    return nullptr;
  }
  g_main_interpreter = PyInterpreterState_Main();
  return PyEval_SaveThread();
}

bool settle_forked_runtime(PyThreadState* main_state, const RuntimeOptions& options,
                           const std::vector<std::string>& environment, std::string& error) {
  // The zygote's environment (PATH, LANG, LC_ALL) becomes the pool's. Only
  // what differs is changed, through os.environ (whose methods call putenv
  // and unsetenv): each Python object a forked worker touches costs it a
  // copied page, so it touches few.
  std::map<std::string, std::string> wanted;
  for (const auto& entry : environment) {
    auto equals = entry.find('=');
    if (equals != std::string::npos && equals > 0) wanted[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  std::vector<std::string> unset;
  for (char** e = ::environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto equals = entry.find('=');
    std::string name(entry.substr(0, equals));
    auto it = wanted.find(name);
    if (it == wanted.end()) {
      unset.push_back(name);
    } else if (equals != std::string_view::npos && entry.substr(equals + 1) == it->second) {
      wanted.erase(it);  // already so
    }
  }
  GilHold gil(main_state);
  // Imported in the zygote: taken from sys.modules, without the import
  // machinery's Python code (which touches, and copies, ~50 pages).
  PyRef os = PyRef::steal(PyImport_GetModule(PyRef::steal(PyUnicode_FromString("os")).get()));
  if (!os && !PyErr_Occurred()) os = PyRef::steal(PyImport_ImportModule("os"));
  PyRef os_environ = os ? PyRef::steal(PyObject_GetAttrString(os.get(), "environ")) : PyRef();
  if (!os_environ) {
    error = "os.environ: " + format_current_exception();
    return false;
  }
  auto text = [](const std::string& s) { return PyRef::steal(PyUnicode_DecodeFSDefaultAndSize(s.data(), static_cast<Py_ssize_t>(s.size()))); };
  for (const auto& name : unset) {
    PyRef key = text(name);
    if (!key || PyObject_DelItem(os_environ.get(), key.get()) != 0) PyErr_Clear();  // not in os.environ: fine
  }
  for (const auto& [name, value] : wanted) {
    PyRef key = text(name), val = text(value);
    if (!key || !val || PyObject_SetItem(os_environ.get(), key.get(), val.get()) != 0) {
      error = "os.environ[" + name + "]: " + format_current_exception();
      return false;
    }
  }
  return apply_pool_settings(options, error);
}

void finalize_runtime(PyThreadState* main_state) {
  PyEval_RestoreThread(main_state);
  Py_FinalizeEx();
}

std::string format_current_exception() {
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return "(no exception)";
  PyErr_NormalizeException(&type, &value, &tb);
  PyRef t = PyRef::steal(type), v = PyRef::steal(value), b = PyRef::steal(tb);
  if (b) PyException_SetTraceback(v.get(), b.get());
  std::string text;
  PyRef mod = PyRef::steal(PyImport_ImportModule("traceback"));
  PyRef lines;
  if (mod) {
    lines = PyRef::steal(PyObject_CallMethod(mod.get(), "format_exception", "OOO", t.get(),
                                             v ? v.get() : Py_None, b ? b.get() : Py_None));
  }
  if (lines) {
    PyRef empty = PyRef::steal(PyUnicode_FromString(""));
    PyRef joined = PyRef::steal(PyUnicode_Join(empty.get(), lines.get()));
    if (joined) {
      Py_ssize_t n = 0;
      const char* s = PyUnicode_AsUTF8AndSize(joined.get(), &n);
      if (s) text.assign(s, static_cast<size_t>(n));
    }
  }
  if (text.empty()) {
    PyErr_Clear();
    PyRef repr = PyRef::steal(PyObject_Repr(v ? v.get() : t.get()));
    const char* s = repr ? PyUnicode_AsUTF8(repr.get()) : nullptr;
    text = s ? s : "(unprintable exception)";
  }
  PyErr_Clear();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

ThreadState::ThreadState() : main_(PyThreadState_New(g_main_interpreter)) {}

ThreadState::~ThreadState() {
  for (PyThreadState* s : others_) {
    PyEval_RestoreThread(s);
    PyThreadState_Clear(s);
    PyThreadState_DeleteCurrent();
  }
  PyEval_RestoreThread(main_);
  PyThreadState_Clear(main_);
  PyThreadState_DeleteCurrent();
}

PyThreadState* ThreadState::for_interpreter(PyInterpreterState* interp) {
  PyThreadState* found = nullptr;
  if (interp == g_main_interpreter) {
    found = main_;
  } else {
    for (PyThreadState* s : others_) {
      if (s->interp == interp) found = s;
    }
    if (!found) found = others_.emplace_back(PyThreadState_New(interp));
  }
  last_.store(interp, std::memory_order_relaxed);
  last_state_.store(found, std::memory_order_relaxed);
  return found;
}

PyThreadState* Interpreters::create(const std::string& name, bool own_gil) {
#if PY_VERSION_HEX >= 0x030C0000
  if (own_gil) {
    // CPython's isolated configuration, but for exec: an app may run
    // programs (subprocess), which no other interpreter notices. fork()
    // stays refused: a child forked from one thread of a threaded worker is
    // not one CPython can go on with in a sub-interpreter.
    PyInterpreterConfig config = {};
    config.use_main_obmalloc = 0;
    config.allow_fork = 0;
    config.allow_exec = 1;
    config.allow_threads = 1;
    config.allow_daemon_threads = 0;
    config.check_multi_interp_extensions = 1;
    config.gil = PyInterpreterConfig_OWN_GIL;
    PyThreadState* created = nullptr;
    PyStatus status = Py_NewInterpreterFromConfig(&created, &config);
    if (PyStatus_Exception(status) || !created) {
      log::error("cannot create the Python sub-interpreter (with its own GIL) for application group '{}': {}",
                 name, status.err_msg ? status.err_msg : "unknown error");
      return nullptr;
    }
    return created;
  }
#else
  (void)own_gil;
#endif
  PyThreadState* created = Py_NewInterpreter();
  if (!created) log::error("cannot create the Python sub-interpreter for application group '{}'", name);
  return created;
}


PyInterpreterState* Interpreters::get(const std::string& name, ThreadState& thread, bool own_gil) {
  if (name.empty()) return g_main_interpreter;
  std::lock_guard lock(mutex_);
  if (auto it = by_name_.find(name); it != by_name_.end()) {
    if (own_gil != own_gil_[name] && mismatch_told_.insert(name).second) {
      // Two apps whose patterns gave one name (the configuration refuses
      // two equal patterns that disagree): the first made it. Said once.
      log::warning("application group '{}' was made {} a GIL of its own; an app with own-gil: {} runs in it as it is",
                   name, own_gil_[name] ? "with" : "without", own_gil ? "true" : "false");
    }
    return it->second;
  }
  PyEval_RestoreThread(thread.get());
  PyThreadState* created = create(name, own_gil);
  if (!created) {
    PyThreadState_Swap(thread.get());
    PyEval_SaveThread();
    return nullptr;
  }
  std::string error;
  if (!add_site_dirs(python_path_, error)) log::error("application group '{}': {}", name, error);
  PyInterpreterState* interp = created->interp;
  PyEval_SaveThread();  // releases the GIL held by `created`
  // `created` stays with the registry until end_all: CPython 3.11 crashes
  // ("thread state already initialized") when an interpreter that lost all
  // its thread states makes a new one, so each keeps this one for life.
  keepers_[interp] = created;
  by_name_[name] = interp;
  own_gil_[name] = own_gil;
  return interp;
}

void Interpreters::end_all(PyThreadState* main_state,
                           const std::function<void(PyInterpreterState*)>& before_end) {
  std::lock_guard lock(mutex_);
#if PY_VERSION_HEX >= 0x030C0000
  (void)main_state;
  for (auto& [name, interp] : by_name_) {
    PyThreadState* keeper = keepers_[interp];
    PyEval_RestoreThread(keeper);  // its own GIL, or the main one it shares
    before_end(interp);
    forget_types();  // what of them is still used is kept alive by its users
    // Runs the group's atexit handlers; returns holding no GIL.
    Py_EndInterpreter(keeper);
  }
#else
  PyEval_RestoreThread(main_state);
  for (auto& [name, interp] : by_name_) {
    PyThreadState* keeper = keepers_[interp];
    PyThreadState_Swap(keeper);
    before_end(interp);
    forget_types();
    // In 3.11 it returns with the GIL still held and no current thread
    // state: swap back to the main one.
    Py_EndInterpreter(keeper);
    PyThreadState_Swap(main_state);
  }
  PyEval_SaveThread();
#endif
  by_name_.clear();
  keepers_.clear();
  own_gil_.clear();
  mismatch_told_.clear();
}

}  // namespace wsgi_fpm::python
