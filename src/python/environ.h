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

// The str objects an environ is made of that recur from request to
// request: CGI parameter names, the environ's own keys, and short values
// (a frontend sends the same GATEWAY_INTERFACE, SERVER_PROTOCOL, SERVER_NAME,
// HTTP_HOST... every time). Made once per application and interpreter
// instead of once per request; str is immutable, so sharing one between
// environs is invisible to the app. GIL held.
class EnvironCache {
 public:
  // The environ's own keys, interned once.
  enum Key { kScriptName, kPathInfo, kQueryString, kUrlScheme, kInput, kErrors, kRequestStart, kKeyCount };
  PyObject* key(Key k);  // borrowed; nullptr on error
  PyObject* scheme(bool secure);  // "https" or "http", borrowed; nullptr on error

  // A borrowed reference to the str of `name`, valid while this cache lives;
  // nullptr on error.
  PyObject* name(std::string_view name);
  // The same for the parameter at `position` of the request. A frontend sends
  // the same names in the same order every time, so a comparison with the
  // name last seen there usually replaces hashing it.
  PyObject* name(std::size_t position, std::string_view name);
  // A new reference to the latin-1 str of the parameter value at `position`:
  // the one of the last request when the bytes are the same.
  PyObject* value(std::size_t position, std::string_view value);

  // A copy of the last environ built with these parameter names in this
  // order, or nullptr: copied, it has every key already, so a request's
  // values replace old ones instead of growing a dict from the template.
  PyObject* shape(const protocol::Params& params) const;
  // The value the shape holds for the parameter at `position` (borrowed;
  // nullptr if none): a value that is this very object needs no setting.
  PyObject* shape_value(std::size_t position) const {
    return position < shape_slots_.size() ? shape_slots_[position].value : nullptr;
  }
  // The key of the parameter at `position` when the shape matched (borrowed;
  // nullptr if unknown): its name was compared already.
  PyObject* shape_key(std::size_t position) const {
    return position < shape_slots_.size() ? shape_slots_[position].key : nullptr;
  }
  void remember_shape(const protocol::Params& params, PyObject* environ);

 private:
  static constexpr std::size_t kPositions = 128;
  static constexpr std::size_t kLongestCachedValue = 128;  // longer ones rarely recur
  struct Position {
    std::string name;
    PyObject* key = nullptr;  // borrowed from names_
    PyRef value;              // the last value seen here, if short
  };
  std::vector<Position> by_position_;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, PyRef, Hash, std::equal_to<>> names_;
  PyRef keys_[kKeyCount];
  PyRef schemes_[2];
  PyRef shape_;
  struct ShapeSlot {  // a parameter of the request the shape was made from
    std::string name;
    PyObject* key = nullptr;    // borrowed from names_
    PyObject* value = nullptr;  // borrowed from shape_
  };
  std::vector<ShapeSlot> shape_slots_;
};

// A request's environ: the template, every CGI parameter as a latin-1 str
// (HTTP_CONTENT_LENGTH and HTTP_CONTENT_TYPE dropped, as PEP 3333 requires),
// SCRIPT_NAME/PATH_INFO from `split`, and the request's streams. GIL held.
PyRef build_environ(PyObject* environ_template, const protocol::Params& params,
                    const protocol::PathSplit& split, PyObject* input, PyObject* errors,
                    EnvironCache* cache = nullptr);

}  // namespace wsgi_fpm::python
