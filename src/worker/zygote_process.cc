#include "worker/zygote_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <optional>

#include "python/gil.h"
#include "python/thread_control.h"
#include "util/log.h"
#include "worker/fork_template.h"
#include "worker/malloc_tuning.h"
#include "worker/process_setup.h"
#include "worker/process_title.h"
#include "wsgi_fpm/fork_request.h"
#include "wsgi_fpm/worker_exit.h"

namespace wsgi_fpm::worker {

PyThreadState* become_zygote(int argc, char** argv, WorkerOptions& options, Contract& contract,
                             std::vector<std::string>& environment) {
  set_process_title(argc, argv, "wsgi-fpm zygote");
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (options.supervisor_pid && getppid() != options.supervisor_pid) std::_Exit(worker_exit::kCannotSetUp);
  tune_malloc();
  take_locale();
  // site runs here, as root: it reads the system's site-packages and runs
  // their .pth files, root's files that every root python3 (apt's hooks
  // among them) runs too. A virtualenv's, the tenant's, never get here
  // (python-home has no zygote). Done once, it is no forked worker's work:
  // on this machine, 12 ms of copy-on-write faults each (docs/design.md).
  python::RuntimeOptions runtime;
  std::string error;
  PyThreadState* main_state = python::start_runtime(runtime, error);
  if (!main_state) {
    log::error("cannot start Python: {}", error);
    std::_Exit(worker_exit::kPythonFailed);
  }
  {
    // What every worker imports first, so that each forked one finds it
    // done (the standard library's own modules, root's files).
    python::GilHold gil(main_state);
    for (const char* name : {"os", "traceback"}) {
      PyObject* module = PyImport_ImportModule(name);
      if (!module) {
        log::error("cannot import {}: {}", name, python::format_current_exception());
        std::_Exit(worker_exit::kPythonFailed);
      }
      Py_DECREF(module);
    }
    // And what each one makes first: the RequestTimeout type, and a first
    // compile (the parser's and compiler's own first-use set-up), so that
    // a forked worker only looks them up.
    if (!python::make_request_timeout_type(error)) {
      log::error("{}", error);
      std::_Exit(worker_exit::kPythonFailed);
    }
    Py_XDECREF(Py_CompileString("def application(environ, start_response):\n    return [b'']\n", "<zygote>",
                                Py_file_input));
    PyErr_Clear();
  }
  std::optional<CommandLine> request;
  serve_fork_requests(
      options.supervisor_pid, main_state, contract,
      [argc, argv] { set_process_title(argc, argv, "wsgi-fpm spare (zygote)"); }, &request);
  // A worker now. Its command line is read as a spawned worker's argv is.
  std::vector<char*> args{argv[0]};
  for (auto& a : request->arguments) args.push_back(a.data());
  args.push_back(nullptr);
  WorkerOptions own;
  if (!parse_worker_options(static_cast<int>(args.size()) - 1, args.data(), own, error)) {
    log::error("wsgi-fpm-worker (forked by the zygote): {}", error);
    std::_Exit(worker_exit::kBadCommandLine);
  }
  options = std::move(own);
  environment = std::move(request->environment);
  return main_state;
}

}  // namespace wsgi_fpm::worker
