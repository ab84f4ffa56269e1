// One WSGI application: its script loaded as a module (as mod_wsgi loads a
// WSGIScriptAlias target) and the PEP 3333 call of its callable per request.
#pragma once

#include <Python.h>

#include <map>
#include <mutex>
#include <string>

#include "protocol/request_path.h"
#include "python/environ.h"
#include "python/ref.h"
#include "python/request_io.h"

namespace wsgi_fpm::python {

struct ApplicationConfig {
  std::string script;
  std::string callable = "application";
  std::string mount = "/";
  EnvironDefaults environ;
  size_t header_buffer_size = 32768;
};

// The script is loaded once per interpreter (application group) it is used
// in; every method runs in the current thread state's interpreter, with the
// GIL held.
class Application {
 public:
  explicit Application(ApplicationConfig config) : config_(std::move(config)) {}

  // Imports the script into the current interpreter if it is not loaded
  // there yet; `group` names the interpreter for mod_wsgi.application_group.
  // On failure the traceback is logged, and the next request tries again (as
  // mod_wsgi does).
  bool ensure_loaded(const std::string& group = "");

  // Serves one request. Never throws and never leaves a Python exception
  // set: failures become a 500 (or a broken connection once headers are out)
  // and a traceback in the log. Call ensure_loaded first.
  void handle(RequestIo& io, const protocol::PathSplit& split, const std::string& label);

  // Drops this application's objects in the current interpreter (before the
  // interpreter ends).
  void unload_current();

  const ApplicationConfig& config() const { return config_; }

 private:
  struct Loaded {
    PyRef callable;
    PyRef environ_template;
    EnvironCache environ_cache;
  };
  bool run(PyObject* callable, PyObject* environ, PyObject* start_response, class Response& response,
           const std::string& label);
  // This interpreter's entry, made empty if new. An entry is only ever used
  // by threads holding its interpreter's GIL; the map itself is shared by
  // interpreters that may each have a GIL of their own, hence the lock.
  Loaded& loaded_here();
  ApplicationConfig config_;
  std::mutex loaded_mutex_;
  std::map<PyInterpreterState*, Loaded> loaded_;  // guarded by loaded_mutex_
};

}  // namespace wsgi_fpm::python
