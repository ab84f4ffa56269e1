// wsgi-fpm-worker: one process of a pool. Started by the supervisor with the
// pool's listening socket as fd 3 (wsgi_fpm/descriptors.h); never started by
// hand. Each step below is a function of its own; their order matters:
// descriptors beyond the contract are closed first and the contract's moved
// out of the app's way (worker/contract.h), signals are blocked before any
// thread exists (so only sigtimedwait sees them), privileges are dropped
// before Python exists, and Python is finalized only after every request
// thread has let go of it (serve.h).
#include <string>
#include <vector>

#include "python/gil.h"
#include "util/log.h"
#include "worker/contract.h"
#include "worker/fork_template.h"
#include "worker/process_setup.h"
#include "worker/process_title.h"
#include "worker/router.h"
#include "worker/serve.h"
#include "worker/zygote_process.h"

using namespace wsgi_fpm;

int main(int argc, char** argv) {
  worker::WorkerOptions options;
  if (int status = worker::read_command_line(argc, argv, options)) return status;
  worker::Contract contract = worker::Contract::take(options.listen_fd);
  const sigset_t stop_signals = worker::block_stop_signals();

  // The zygote returns from here only in a worker it forked, with Python
  // running (as root until the privileges below are dropped, and none of
  // it runs until then) and the worker's own options and environment.
  PyThreadState* main_state = nullptr;
  std::vector<std::string> forked_environment;
  const bool forked_by_zygote = options.zygote;
  if (forked_by_zygote) {
    log::set_source("zygote");
    log::set_bare(options.log_bare);
    main_state = worker::become_zygote(argc, argv, options, contract, forked_environment);
  }
  const std::string title = worker::name_process(argc, argv, options, forked_by_zygote);
  if (int status = worker::enter_pool_identity(options)) return status;
  if (int status = worker::start_python(options, forked_environment, main_state)) return status;

  python::Interpreters interpreters(options.python_path);
  worker::Router router(options, interpreters);
  if (options.fork_template) {
    // preload-fork: import the %{GLOBAL} applications, then fork workers
    // on request; returns in a worker forked from the template.
    {
      python::ThreadState preloading;
      router.preload(preloading, worker::Router::Preload::MainInterpreter);
    }
    worker::serve_fork_requests(options.supervisor_pid, main_state, contract, [argc, argv, &title] {
      worker::set_process_title(argc, argv, title.empty() ? "wsgi-fpm spare" : title + " spare");
    });
    worker::set_process_title(argc, argv, title.empty() ? std::string("wsgi-fpm-worker") : title);
  }
  {
    python::ThreadState preloading;
    router.preload(preloading, options.fork_template ? worker::Router::Preload::MarkedInSubInterpreters
                                                     : worker::Router::Preload::Marked);
  }
  return worker::serve(options, contract, router, main_state, stop_signals);
}
