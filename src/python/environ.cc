#include "python/environ.h"

#include <sys/time.h>

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

PyObject* EnvironKeys::get(std::string_view name) {
  if (auto it = keys_.find(name); it != keys_.end()) return it->second.get();
  // Unbounded names would make this a memory leak a client could drive:
  // only the first few hundred distinct names are kept.
  PyRef key = PyRef::steal(latin1(name));
  if (!key) return nullptr;
  PyObject* raw = key.get();
  if (keys_.size() < 512) keys_.emplace(std::string(name), std::move(key));
  else return nullptr;
  return raw;
}

PyObject* EnvironKeys::get(std::size_t position, std::string_view name) {
  if (position < by_position_.size() && by_position_[position].first == name) return by_position_[position].second;
  PyObject* key = get(name);  // owned by keys_, or nullptr
  if (key && position < kPositions) {
    if (position >= by_position_.size()) by_position_.resize(position + 1);
    by_position_[position] = {std::string(name), key};
  }
  return key;
}

PyRef build_environ(PyObject* environ_template, const protocol::Params& params,
                    const protocol::PathSplit& split, PyObject* input, PyObject* errors,
                    EnvironKeys* keys) {
  PyRef env = PyRef::steal(PyDict_Copy(environ_template));
  if (!env) return {};
  PyObject* e = env.get();
  const auto& items = params.items();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& p = items[i];
    if (skipped(p.name)) continue;
    if (p.name == "CONTENT_LENGTH" && content_length_means_no_body(params, p.value)) continue;
    PyRef key = keys ? PyRef::borrow(keys->get(i, p.name)) : PyRef();
    if (!key) key = PyRef::steal(latin1(p.name));
    PyRef value = PyRef::steal(latin1(p.value));
    if (!key || !value || PyDict_SetItem(e, key.get(), value.get()) < 0) return {};
  }
  auto https = params.get_or("HTTPS", "");
  bool secure = https == "on" || https == "ON" || https == "1" || params.get_or("REQUEST_SCHEME", "") == "https";
  timeval now;
  gettimeofday(&now, nullptr);
  long long start_us = static_cast<long long>(now.tv_sec) * 1000000 + now.tv_usec;
  bool ok = set_item(e, "SCRIPT_NAME", latin1(split.script_name)) &&
            set_item(e, "PATH_INFO", latin1(split.path_info)) &&
            (!secure || set_item(e, "wsgi.url_scheme", PyUnicode_FromString("https"))) &&
            PyDict_SetItemString(e, "wsgi.input", input) == 0 &&
            PyDict_SetItemString(e, "wsgi.errors", errors) == 0 &&
            set_item(e, "mod_wsgi.request_start", PyUnicode_FromString(std::to_string(start_us).c_str()));
  // Defaults for what a bare client (wsgi-fpm request) may leave out; every
  // frontend sends these.
  static const std::pair<const char*, const char*> kDefaults[] = {
      {"REQUEST_METHOD", "GET"}, {"SERVER_NAME", "localhost"},
      {"SERVER_PORT", "80"},     {"SERVER_PROTOCOL", "HTTP/1.0"},
  };
  for (const auto& [key, value] : kDefaults) {
    if (!ok) break;
    if (!params.get(key)) ok = set_item(e, key, PyUnicode_FromString(value));
  }
  if (ok && !params.get("QUERY_STRING")) ok = set_item(e, "QUERY_STRING", latin1(split.query_string));
  if (!ok) return {};
  return env;
}

}  // namespace wsgi_fpm::python
