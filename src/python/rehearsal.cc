#include "python/rehearsal.h"

#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "protocol/params.h"
#include "protocol/request_path.h"
#include "python/application.h"
#include "python/gil.h"
#include "python/ref.h"
#include "python/runtime.h"

namespace wsgi_fpm::python {
namespace {

constexpr char kApplication[] =
    "def application(environ, start_response):\n"
    "    start_response('200 OK', [('Content-Type', 'text/plain; charset=utf-8')])\n"
    "    return [b'rehearsal\\n']\n";

// The request as nginx's fastcgi_params would send it.
class RehearsalIo final : public RequestIo {
 public:
  RehearsalIo() {
    for (auto [name, value] : {std::pair{"GATEWAY_INTERFACE", "CGI/1.1"}, {"REQUEST_METHOD", "GET"},
                               {"REQUEST_URI", "/"}, {"SCRIPT_NAME", ""}, {"PATH_INFO", "/"},
                               {"QUERY_STRING", ""}, {"CONTENT_TYPE", ""}, {"CONTENT_LENGTH", ""},
                               {"SERVER_SOFTWARE", "nginx"}, {"SERVER_NAME", "localhost"}, {"SERVER_PORT", "80"},
                               {"SERVER_PROTOCOL", "HTTP/1.1"}, {"REMOTE_ADDR", "127.0.0.1"},
                               {"REMOTE_PORT", "40000"}, {"HTTP_HOST", "localhost"},
                               {"HTTP_USER_AGENT", "wsgi-fpm"}, {"HTTP_ACCEPT", "*/*"}})
      params_.add(name, value);
  }
  const protocol::Params& params() const override { return params_; }
  ssize_t read_body(char*, size_t) override { return 0; }
  bool write(std::span<const std::string_view>, bool) override { return true; }
  void abort() override {}

 private:
  protocol::Params params_;
};

}  // namespace

void rehearse_request() {
  // The script is read from a path, as every application's is.
  int source = memfd_create("wsgi-fpm-rehearsal", MFD_CLOEXEC);
  if (source < 0) return;
  if (write(source, kApplication, sizeof kApplication - 1) != static_cast<ssize_t>(sizeof kApplication - 1)) {
    close(source);
    return;
  }
  ApplicationConfig config;
  config.script = "/proc/self/fd/" + std::to_string(source);
  Application application(config);
  // On a thread, as requests are served: its thread state is made as theirs
  // are, and glibc keeps its stack for the worker's first thread.
  std::thread([&application] {
    ThreadState state;
    GilHold gil(state.get());
    PyObject* modules = PyImport_GetModuleDict();
    PyRef before = PyRef::steal(PyDict_Keys(modules));
    if (application.ensure_loaded()) {
      RehearsalIo io;
      application.handle(io, protocol::PathSplit{"", "/", ""}, "rehearsal");
    }
    application.unload_current();
    // What the rehearsal imported goes, so that the worker finds the
    // modules the zygote left and nothing more.
    PyRef after = PyRef::steal(PyDict_Keys(modules));
    for (Py_ssize_t i = 0; after && before && i < PyList_GET_SIZE(after.get()); ++i) {
      PyObject* name = PyList_GET_ITEM(after.get(), i);
      if (PySequence_Contains(before.get(), name) == 0) PyDict_DelItem(modules, name);
    }
    PyErr_Clear();
  }).join();
  close(source);
}

}  // namespace wsgi_fpm::python
