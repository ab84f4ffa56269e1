// From a request head to the application that serves it: request limits
// first (answered without Python), then the longest matching mount.
#pragma once

#include <memory>
#include <vector>

#include "python/application.h"
#include "python/runtime.h"
#include "worker/connection.h"
#include "worker/options.h"

namespace wsgi_fpm::worker {

class Router {
 public:
  explicit Router(const WorkerOptions& options);

  // Loads every application's script (failures are logged; those apps answer
  // 500 and retry on their next request). GIL held by the caller's state.
  void preload(PyThreadState* state);

  // Drops every application's Python objects, before Python is finalized.
  void unload(PyThreadState* state);

  // Serves one request on the calling request thread.
  void handle(Connection& conn, python::ThreadState& thread);

 private:
  std::uint64_t limit_request_body_;
  // Longest mount first, so the first match is the most specific.
  std::vector<std::unique_ptr<python::Application>> apps_;
};

}  // namespace wsgi_fpm::worker
