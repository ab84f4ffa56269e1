// A worker that dies of a fatal signal (SIGSEGV, SIGABRT, ...) while a thread
// runs code in an application group with a GIL of its own says so in its
// last log line: which app, which group, importing or serving what. CPython
// turns most extension modules' refusal of an isolated interpreter into an
// ImportError (which the log explains), but not every module's failure:
// numpy, on Debian 13, aborts the process in free(). Without this, the log
// would show only "killed by signal 6".
#pragma once

#include <string>

namespace wsgi_fpm::worker {

// Installs the handlers (once, before the request threads start). The
// disposition is restored and the signal raised again after the report, so
// the process still dies of it (and a core dump is still made).
void install_crash_report();

// What the calling thread is doing, for the report, for the guard's scope.
// The strings must outlive the guard; nothing is copied (it is on every
// request to an own-gil group).
class CrashContext {
 public:
  CrashContext(const char* doing, const std::string& what, const std::string& script, const std::string& group);
  ~CrashContext();
  CrashContext(const CrashContext&) = delete;
  CrashContext& operator=(const CrashContext&) = delete;

  const char* const doing;  // "importing", "serving"
  const std::string& what;  // the request's "METHOD URI", or empty
  const std::string& script;
  const std::string& group;

 private:
  const CrashContext* const previous_;
};

}  // namespace wsgi_fpm::worker
