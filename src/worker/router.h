// From a request head to the application that serves it: request limits
// first (answered without Python), then the longest matching mount.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "python/application.h"
#include "python/runtime.h"
#include "worker/connection.h"
#include "protocol/request_path.h"
#include "worker/options.h"

namespace wsgi_fpm::worker {

class Router {
 public:
  Router(const WorkerOptions& options, python::Interpreters& interpreters);

  // Which apps preload() imports. preload-fork splits the work: a template
  // imports the main interpreter's apps, marked preload or not (sharing them
  // is its purpose), and each forked worker the rest (CPython ends every
  // sub-interpreter at fork()).
  enum class Preload { Marked, MainInterpreter, MarkedInSubInterpreters };

  // Imports the scripts of apps marked preload whose application group does
  // not depend on the request (failures are logged; those apps answer 500
  // and retry on their next request). Apps with own-gil and such a group
  // are imported too, preload or not: an extension module that refuses a
  // GIL of its own is then reported when the process starts. Call without
  // the GIL.
  void preload(python::ThreadState& thread, Preload which = Preload::Marked);

  // Drops every application's Python objects and ends the sub-interpreters
  // (their atexit handlers run), before Python is finalized. Call without the
  // GIL, after the request threads are gone.
  void unload(PyThreadState* main_state);

  // Serves one request on the calling request thread.
  void handle(Connection& conn, python::ThreadState& thread);

 private:
  python::Interpreters& interpreters_;
  std::vector<std::string> group_patterns_;  // per app, parallel to apps_
  std::vector<bool> preload_;
  std::vector<bool> own_gil_;
  std::uint64_t limit_request_body_;
  int queue_timeout_;
  std::optional<uid_t> script_uid_;
  std::optional<gid_t> script_gid_;
  // Longest mount first, so the first match is the most specific.
  std::vector<std::unique_ptr<python::Application>> apps_;
  // Serves with `app` in the interpreter of `group`.
  void serve(python::Application& app, const std::string& group, bool own_gil, Connection& conn,
             const protocol::PathSplit& split, const std::string& label, python::ThreadState& thread);
};

}  // namespace wsgi_fpm::worker
