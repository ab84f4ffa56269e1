#include "python/application.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fmt/format.h"
#include "protocol/cgi_response.h"
#include "python/body_reader.h"
#include "python/gil.h"
#include "python/response.h"
#include "python/runtime.h"
#include "python/thread_control.h"
#include "python/types.h"
#include "util/fd.h"
#include "util/log.h"

namespace wsgi_fpm::python {
namespace {

// mod_wsgi names a script's module after its path, so two scripts never share
// a module; we do the same with our own prefix.
std::string module_name_for(const std::string& path) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : path) h = (h ^ c) * 1099511628211ull;
  return fmt::format("_wsgi_fpm_{:016x}", h);
}

// The script's bytes (<fstream> would link libstdc++'s locale machinery into
// the worker). False with errno set if it cannot be read.
bool read_whole_file(const std::string& path, std::string& out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  out.clear();
  char chunk[16 * 1024];
  while (true) {
    ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    out.append(chunk, static_cast<std::size_t>(n));
  }
}

// Set when the last exception logged on this thread was RequestTimeout, so
// the request gets 504 rather than 500.
thread_local bool t_timed_out = false;

// The module named by the current exception if it is CPython's refusal to
// import an extension module into an isolated sub-interpreter (own-gil);
// "" otherwise. Leaves the exception set.
std::string refused_module() {
  if (!PyErr_ExceptionMatches(PyExc_ImportError)) return {};
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  std::string module;
  PyRef text = value ? PyRef::steal(PyObject_Str(value)) : PyRef();
  const char* message = text ? PyUnicode_AsUTF8(text.get()) : nullptr;
  // "module NAME does not support loading in subinterpreters" (3.12, 3.13)
  constexpr std::string_view kRefusal = " does not support loading in subinterpreters";
  if (message) {
    std::string_view m(message);
    if (auto at = m.find(kRefusal); at != std::string_view::npos && m.starts_with("module "))
      module = std::string(m.substr(7, at - 7));
  }
  PyErr_Clear();
  PyErr_Restore(type, value, tb);
  return module;
}

void log_exception(const std::string& label, const char* what) {
  t_timed_out = current_exception_is_request_timeout();
  std::string refused = refused_module();
  std::string tb = format_current_exception();
  if (!refused.empty()) {
    // The traceback alone says "does not support loading in subinterpreters",
    // which does not tell an administrator what to change.
    log::write_lines(log::Level::Error,
                     fmt::format("{}: {}: the extension module '{}' does not support an application group with a "
                                 "GIL of its own (own-gil: true); give this app own-gil: false, or do without the "
                                 "module\n{}",
                                 label, what, refused, tb));
    return;
  }
  log::write_lines(log::Level::Error, fmt::format("{}: {}\n{}", label, what, tb));
}

// Bytes of one response chunk, or nullptr with TypeError set.
bool as_bytes(PyObject* item, std::string_view& out) {
  if (!PyBytes_Check(item)) {
    PyErr_Format(PyExc_TypeError, "response iterable yielded %.100s, not bytes",
                 Py_TYPE(item)->tp_name);
    return false;
  }
  out = std::string_view(PyBytes_AS_STRING(item), static_cast<size_t>(PyBytes_GET_SIZE(item)));
  return true;
}

}  // namespace

Application::Loaded& Application::loaded_here() {
  PyInterpreterState* interp = PyThreadState_Get()->interp;
  std::lock_guard lock(loaded_mutex_);
  return loaded_[interp];  // a map's entries stay where they are
}

bool Application::ensure_loaded(const std::string& group) {
  Loaded& loaded = loaded_here();
  if (loaded.callable) return true;
  if (!loaded.environ_template) {
    EnvironDefaults defaults = config_.environ;
    defaults.application_group = group;
    loaded.environ_template = make_environ_template(defaults);
    if (!loaded.environ_template) {
      log_exception(config_.script, "cannot build the environ template");
      return false;
    }
  }
  std::string source;
  if (!read_whole_file(config_.script, source)) {
    log::error("cannot read WSGI script {}: {}", config_.script, std::strerror(errno));
    return false;
  }
  std::string name = module_name_for(config_.script);
  PyRef code = PyRef::steal(Py_CompileStringExFlags(source.c_str(), config_.script.c_str(),
                                                    Py_file_input, nullptr, -1));
  if (!code) {
    log_exception(config_.script, "cannot compile the WSGI script");
    return false;
  }
  PyRef module = PyRef::steal(
      PyImport_ExecCodeModuleEx(name.c_str(), code.get(), config_.script.c_str()));
  if (!module) {
    log_exception(config_.script, "the WSGI script raised an exception while loading");
    return false;
  }
  PyRef callable = PyRef::steal(PyObject_GetAttrString(module.get(), config_.callable.c_str()));
  if (!callable) {
    PyErr_Clear();
    log::error("{}: the WSGI script defines no '{}' (set callable to the right name)",
               config_.script, config_.callable);
    return false;
  }
  loaded.callable = std::move(callable);
  return true;
}

void Application::unload_current() {
  Loaded dropped;  // its references go here, outside the lock
  {
    std::lock_guard lock(loaded_mutex_);
    auto it = loaded_.find(PyThreadState_Get()->interp);
    if (it == loaded_.end()) return;
    dropped = std::move(it->second);
    loaded_.erase(it);
  }
}

bool Application::run(PyObject* callable, PyObject* environ, PyObject* start_response,
                      Response& response, const std::string& label) {
  PyObject* args[] = {environ, start_response};
  PyRef result = PyRef::steal(PyObject_Vectorcall(callable, args, 2, nullptr));
  if (!result) {
    log_exception(label, "exception in the WSGI application");
    return false;
  }
  bool ok = true;
  // A list or tuple is complete already: head, body and the protocol's
  // closing records go out in one write.
  if (PyList_CheckExact(result.get()) || PyTuple_CheckExact(result.get())) {
    PyRef seq = PyRef::steal(PySequence_Fast(result.get(), "response"));
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq.get());
    PyObject** items = PySequence_Fast_ITEMS(seq.get());
    std::vector<std::string_view> chunks(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; ok && i < n; ++i) ok = as_bytes(items[i], chunks[static_cast<size_t>(i)]);
    if (ok && !response.started()) {
      PyErr_SetString(PyExc_RuntimeError, "the application returned without calling start_response()");
      ok = false;
    }
    if (ok) ok = response.send(chunks, true);
    if (!ok && !response.connection_lost()) log_exception(label, "invalid response from the WSGI application");
    else if (!ok) PyErr_Clear();  // the frontend went away: nothing to report to anyone
    return ok;
  }

  PyRef iterator = PyRef::steal(PyObject_GetIter(result.get()));
  if (!iterator) {
    log_exception(label, "the WSGI application returned a non-iterable");
    ok = false;
  }
  while (ok) {
    PyRef item = PyRef::steal(PyIter_Next(iterator.get()));
    if (!item) {
      if (PyErr_Occurred()) {
        log_exception(label, "exception while iterating the WSGI response");
        ok = false;
      }
      break;
    }
    std::string_view chunk;
    if (!as_bytes(item.get(), chunk) || !response.send({&chunk, 1}, false)) {
      if (!response.connection_lost()) log_exception(label, "invalid response from the WSGI application");
      else PyErr_Clear();
      ok = false;
    }
  }
  // close() before the response ends, so whatever it does has happened by
  // the time the client has the whole response.
  if (PyObject_HasAttrString(result.get(), "close")) {
    PyRef closed = PyRef::steal(PyObject_CallMethod(result.get(), "close", nullptr));
    if (!closed) {
      log_exception(label, "exception in close() of the WSGI response");
      ok = false;
    }
  }
  if (ok && !response.started()) {
    log::error("{}: the application returned without calling start_response()", label);
    ok = false;
  }
  if (ok && !response.finish()) {
    if (!response.connection_lost()) log_exception(label, "invalid response from the WSGI application");
    else PyErr_Clear();
    ok = false;
  }
  return ok;
}

void Application::handle(RequestIo& io, const protocol::PathSplit& split, const std::string& label) {
  Loaded& loaded = loaded_here();
  auto length_text = io.params().get("CONTENT_LENGTH");
  std::optional<std::uint64_t> length;
  if (length_text && !length_text->empty()) length = protocol::parse_content_length(*length_text);
  BodyReader reader(io, length);
  Response response(io, config_.header_buffer_size, io.params().get_or("REQUEST_METHOD", "GET") == "HEAD");

  PyRef input = new_input_stream(&reader);
  PyRef errors = new_error_stream();
  PyRef start = new_start_response(&response);
  PyRef environ;
  bool ok = false;
  t_timed_out = false;
  if (input && errors && start) {
    environ = build_environ(loaded.environ_template.get(), io.params(), split, input.get(), errors.get(),
                            &loaded.environ_cache);
  }
  if (!environ) {
    log_exception(label, "cannot build the WSGI environ");
  } else {
    ok = run(loaded.callable.get(), environ.get(), start.get(), response, label);
  }
  if (!ok && !response.connection_lost()) {
    if (!response.head_sent()) {
      std::string body = t_timed_out ? protocol::error_response(504, "Gateway Timeout")
                                     : protocol::error_response(500, "Internal Server Error");
      std::string_view piece = body;
      GilRelease unlocked;
      io.write({&piece, 1}, true);
    } else {
      GilRelease unlocked;
      io.abort();
    }
  }
  // Whatever happened, this thread's next request starts with no exception
  // set (a leftover one would fail it with SystemError).
  if (PyErr_Occurred()) {
    if (response.connection_lost()) PyErr_Clear();
    else log_exception(label, "exception left over after the response");
  }
  if (input) detach_input_stream(input.get());
  if (start) detach_start_response(start.get());
  if (errors) flush_error_stream(errors.get());
}

}  // namespace wsgi_fpm::python
