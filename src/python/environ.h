// The WSGI environ of one request (PEP 3333 and mod_wsgi's extra keys).
#pragma once

#include <Python.h>

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "protocol/params.h"
#include "protocol/request_path.h"
#include "python/ref.h"

namespace wsgi_fpm::python {

// What is the same for every request of one application in one process.
struct EnvironDefaults {
  std::string process_group;      // mod_wsgi.process_group: the pool's name
  std::string application_group;  // mod_wsgi.application_group
  std::string script_filename;    // the WSGI script
  bool multithread = true;        // threads > 1
  bool multiprocess = false;      // the pool's `processes` key was given
};

// The per-application template, copied for each request. GIL held.
PyRef make_environ_template(const EnvironDefaults& defaults);

// CGI parameter names as Python str objects, made once per application and
// interpreter instead of once per request. GIL held.
class EnvironKeys {
 public:
  // A borrowed reference, valid while this cache lives; nullptr on error.
  PyObject* get(std::string_view name);
  // The same for the parameter at `position` of the request. A frontend sends
  // the same names in the same order every time, so a comparison with the
  // name last seen there usually replaces hashing it.
  PyObject* get(std::size_t position, std::string_view name);
  void clear() {
    by_position_.clear();
    keys_.clear();
  }

 private:
  static constexpr std::size_t kPositions = 128;
  std::vector<std::pair<std::string, PyObject*>> by_position_;  // borrowed from keys_
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, PyRef, Hash, std::equal_to<>> keys_;
};

// A request's environ: the template, every CGI parameter as a latin-1 str
// (HTTP_CONTENT_LENGTH and HTTP_CONTENT_TYPE dropped, as PEP 3333 requires),
// SCRIPT_NAME/PATH_INFO from `split`, and the request's streams. GIL held.
PyRef build_environ(PyObject* environ_template, const protocol::Params& params,
                    const protocol::PathSplit& split, PyObject* input, PyObject* errors,
                    EnvironKeys* keys = nullptr);

}  // namespace wsgi_fpm::python
