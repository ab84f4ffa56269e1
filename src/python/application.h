// One WSGI application: its script loaded as a module (as mod_wsgi loads a
// WSGIScriptAlias target) and the PEP 3333 call of its callable per request.
#pragma once

#include <Python.h>

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

class Application {
 public:
  explicit Application(ApplicationConfig config) : config_(std::move(config)) {}

  // Imports the script if it is not loaded yet. GIL held. On failure the
  // traceback is logged, and the next request tries again (as mod_wsgi does).
  bool ensure_loaded();

  // Serves one request. GIL held (released around all I/O). Never throws and
  // never leaves a Python exception set: failures become a 500 (or a broken
  // connection once headers are out) and a traceback in the log.
  void handle(RequestIo& io, const protocol::PathSplit& split, const std::string& label);

  const ApplicationConfig& config() const { return config_; }

 private:
  bool run(PyObject* environ, PyObject* start_response, class Response& response,
           const std::string& label);
  ApplicationConfig config_;
  PyRef callable_;
  PyRef environ_template_;
};

}  // namespace wsgi_fpm::python
