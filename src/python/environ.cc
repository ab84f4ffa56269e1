#include "python/environ.h"

#include <sys/time.h>

#include <charconv>
#include <cstring>
#include <optional>
#include <string>

#include "python/types.h"

namespace wsgi_fpm::python {
namespace {

bool set_item(PyObject* dict, const char* key, PyObject* value) {
  if (!value) return false;
  int rc = PyDict_SetItemString(dict, key, value);
  Py_DECREF(value);
  return rc == 0;
}

PyObject* latin1(std::string_view s) {
  return PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
}

// Parameters the environ computes itself, and the duplicates PEP 3333 forbids.
bool skipped(std::string_view name) {
  return name == "SCRIPT_NAME" || name == "PATH_INFO" || name == "SCRIPT_FILENAME" ||
         name == "HTTP_CONTENT_LENGTH" || name == "HTTP_CONTENT_TYPE" || name.empty();
}

// Frontends disagree on CONTENT_LENGTH for a request without a body: Apache
// leaves it out, nginx sends "", lighttpd and SCGI frontends "0". The app sees
// what mod_wsgi shows: no CONTENT_LENGTH unless the request had a body or a
// Content-Length header.
bool content_length_means_no_body(const protocol::Params& params, std::string_view value) {
  if (value.empty()) return true;
  if (value != "0" || params.get("HTTP_CONTENT_LENGTH")) return false;
  auto method = params.get_or("REQUEST_METHOD", "GET");
  return method == "GET" || method == "HEAD";
}

}  // namespace

PyRef make_environ_template(const EnvironDefaults& d) {
  PyRef env = PyRef::steal(PyDict_New());
  if (!env) return {};
  PyObject* e = env.get();
  bool ok = set_item(e, "wsgi.version", Py_BuildValue("(ii)", 1, 0)) &&
            set_item(e, "wsgi.multithread", PyBool_FromLong(d.multithread)) &&
            set_item(e, "wsgi.multiprocess", PyBool_FromLong(d.multiprocess)) &&
            set_item(e, "wsgi.run_once", PyBool_FromLong(0)) &&
            set_item(e, "wsgi.input_terminated", PyBool_FromLong(1)) &&
            set_item(e, "wsgi.url_scheme", PyUnicode_FromString("http")) &&
            set_item(e, "mod_wsgi.process_group", latin1(d.process_group)) &&
            set_item(e, "mod_wsgi.application_group", latin1(d.application_group)) &&
            set_item(e, "mod_wsgi.version", Py_BuildValue("(iii)", 4, 9, 4)) &&
            set_item(e, "SCRIPT_FILENAME", PyUnicode_DecodeFSDefault(d.script_filename.c_str())) &&
            file_wrapper_type() &&
            PyDict_SetItemString(e, "wsgi.file_wrapper", reinterpret_cast<PyObject*>(file_wrapper_type())) == 0;
  if (!ok) return {};
  return env;
}

PyObject* EnvironCache::key(Key k) {
  static constexpr const char* kNames[kKeyCount] = {"SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "wsgi.url_scheme",
                                                    "wsgi.input", "wsgi.errors", "mod_wsgi.request_start"};
  if (!keys_[k]) keys_[k] = PyRef::steal(PyUnicode_InternFromString(kNames[k]));
  return keys_[k].get();
}

PyObject* EnvironCache::scheme(bool secure) {
  PyRef& s = schemes_[secure ? 1 : 0];
  if (!s) s = PyRef::steal(PyUnicode_InternFromString(secure ? "https" : "http"));
  return s.get();
}

PyObject* EnvironCache::name(std::string_view name) {
  if (auto it = names_.find(name); it != names_.end()) return it->second.get();
  // Unbounded names would make this a memory leak a client could drive:
  // only the first few hundred distinct names are kept.
  if (names_.size() >= 512) return nullptr;
  PyRef key = PyRef::steal(latin1(name));
  if (!key) return nullptr;
  PyObject* raw = key.get();
  names_.emplace(std::string(name), std::move(key));
  return raw;
}

PyObject* EnvironCache::name(std::size_t position, std::string_view name) {
  if (position < by_position_.size() && by_position_[position].key && by_position_[position].name == name)
    return by_position_[position].key;
  PyObject* key = this->name(name);  // owned by names_, or nullptr
  if (key && position < kPositions) {
    if (position >= by_position_.size()) by_position_.resize(position + 1);
    by_position_[position].name = std::string(name);
    by_position_[position].key = key;
    by_position_[position].value = PyRef();
  }
  return key;
}

PyObject* EnvironCache::value(std::size_t position, std::string_view value) {
  if (position >= by_position_.size() || value.size() > kLongestCachedValue) return latin1(value);
  PyRef& cached = by_position_[position].value;
  // latin-1 text is one byte a character in a str: the bytes compare as they are.
  if (cached && static_cast<std::size_t>(PyUnicode_GET_LENGTH(cached.get())) == value.size() &&
      std::memcmp(PyUnicode_1BYTE_DATA(cached.get()), value.data(), value.size()) == 0) {
    return Py_NewRef(cached.get());
  }
  PyObject* made = latin1(value);
  if (made) cached = PyRef::borrow(made);
  return made;
}

namespace {

// The parameters build_environ looks at, noted in its one pass over them.
struct Seen {
  bool method = false, server_name = false, server_port = false, server_protocol = false, query_string = false;
  bool secure = false;
};

void note(std::string_view name, std::string_view value, Seen& seen) {
  switch (name.size()) {
    case 5:
      if (name == "HTTPS") seen.secure |= value == "on" || value == "ON" || value == "1";
      break;
    case 11:
      if (name == "SERVER_NAME") seen.server_name = true;
      else if (name == "SERVER_PORT") seen.server_port = true;
      break;
    case 12:
      if (name == "QUERY_STRING") seen.query_string = true;
      break;
    case 14:
      if (name == "REQUEST_METHOD") seen.method = true;
      else if (name == "REQUEST_SCHEME") seen.secure |= value == "https";
      break;
    case 15:
      if (name == "SERVER_PROTOCOL") seen.server_protocol = true;
      break;
  }
}

bool set_key(PyObject* dict, PyObject* key, PyObject* value) {
  if (!key || !value) {
    Py_XDECREF(value);
    return false;
  }
  int rc = PyDict_SetItem(dict, key, value);
  Py_DECREF(value);
  return rc == 0;
}

}  // namespace

PyObject* EnvironCache::shape(const protocol::Params& params) const {
  if (!shape_ || params.size() != shape_slots_.size()) return nullptr;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (params[i].name != shape_slots_[i].name) return nullptr;
  }
  return shape_.get();
}

void EnvironCache::remember_shape(const protocol::Params& params, PyObject* environ) {
  if (params.size() > kPositions) return;
  shape_ = PyRef::steal(PyDict_Copy(environ));
  if (!shape_) {
    PyErr_Clear();
    return;
  }
  shape_slots_.clear();
  for (std::size_t i = 0; i < params.size(); ++i) {
    ShapeSlot& slot = shape_slots_.emplace_back();
    slot.name = params[i].name;
    bool known = i < by_position_.size() && by_position_[i].key && by_position_[i].name == params[i].name;
    if (known) slot.key = by_position_[i].key;
    // The value now under this position's key. A name given twice has
    // none: each of its positions sets its value, and the last one wins.
    bool own = known;
    for (std::size_t j = 0; j < params.size() && own; ++j) own = j == i || params[j].name != params[i].name;
    if (own) slot.value = PyDict_GetItemWithError(shape_.get(), slot.key);
    if (!slot.value) PyErr_Clear();
  }
}

PyRef build_environ(PyObject* environ_template, const protocol::Params& params,
                    const protocol::PathSplit& split, PyObject* input, PyObject* errors,
                    EnvironCache* cache) {
  std::optional<EnvironCache> scratch;  // no cache: one for this request alone
  EnvironCache& c = cache ? *cache : scratch.emplace();
  // The last request's environ has every key this one will have but for a
  // CONTENT_LENGTH that depends on the value (removed below if it must go):
  // the same names, the same keys from the template and from the defaults.
  PyObject* shape = c.shape(params);
  PyRef env = PyRef::steal(PyDict_Copy(shape ? shape : environ_template));
  if (!env) return {};
  PyObject* e = env.get();
  Seen seen;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const protocol::Param p = params[i];
    note(p.name, p.value, seen);
    if (skipped(p.name)) continue;
    PyObject* key = shape ? c.shape_key(i) : nullptr;  // borrowed
    if (!key) key = c.name(i, p.name);
    PyRef made_key;
    if (!key) {  // past the cache's bound of distinct names
      made_key = PyRef::steal(latin1(p.name));
      key = made_key.get();
    }
    if (p.name == "CONTENT_LENGTH" && content_length_means_no_body(params, p.value)) {
      if (shape && PyDict_Contains(e, key) == 1 && PyDict_DelItem(e, key) < 0) return {};
      continue;
    }
    PyObject* value = c.value(i, p.value);
    if (shape && value && value == c.shape_value(i)) {  // there already
      Py_DECREF(value);
      continue;
    }
    if (!set_key(e, key, value)) return {};
  }
  timeval now;
  gettimeofday(&now, nullptr);
  char start_us[32];
  auto [start_end, ec] = std::to_chars(start_us, start_us + sizeof start_us,
                                       static_cast<long long>(now.tv_sec) * 1000000 + now.tv_usec);
  bool ok = set_key(e, c.key(EnvironCache::kScriptName), latin1(split.script_name)) &&
            set_key(e, c.key(EnvironCache::kPathInfo), latin1(split.path_info)) &&
            set_key(e, c.key(EnvironCache::kUrlScheme), Py_XNewRef(c.scheme(seen.secure))) &&
            set_key(e, c.key(EnvironCache::kInput), Py_NewRef(input)) &&
            set_key(e, c.key(EnvironCache::kErrors), Py_NewRef(errors)) &&
            set_key(e, c.key(EnvironCache::kRequestStart),
                    latin1({start_us, static_cast<std::size_t>(start_end - start_us)}));
  // Defaults for what a bare client (wsgi-fpm request) may leave out; every
  // frontend sends these.
  if (!shape) {
    if (ok && !seen.method) ok = set_item(e, "REQUEST_METHOD", PyUnicode_FromString("GET"));
    if (ok && !seen.server_name) ok = set_item(e, "SERVER_NAME", PyUnicode_FromString("localhost"));
    if (ok && !seen.server_port) ok = set_item(e, "SERVER_PORT", PyUnicode_FromString("80"));
    if (ok && !seen.server_protocol) ok = set_item(e, "SERVER_PROTOCOL", PyUnicode_FromString("HTTP/1.0"));
  }
  if (ok && !seen.query_string) ok = set_key(e, c.key(EnvironCache::kQueryString), latin1(split.query_string));
  if (!ok) return {};
  // Before the app can change it.
  if (cache && !shape) cache->remember_shape(params, e);
  return env;
}

}  // namespace wsgi_fpm::python
