// Shared by the unit tests that need the embedded interpreter: one runtime
// per test process, and a RequestIo that records what would go on the wire.
#pragma once

#include <Python.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <fstream>
#include <string>
#include <vector>

#include "protocol/params.h"
#include "python/gil.h"
#include "python/request_io.h"
#include "python/runtime.h"

namespace test_support {

inline PyThreadState* python_main_state() {
  static PyThreadState* state = [] {
    std::string error;
    PyThreadState* s = wsgi_fpm::python::start_runtime({}, error);
    if (!s) {
      std::fprintf(stderr, "cannot start Python: %s\n", error.c_str());
      std::abort();
    }
    return s;
  }();
  return state;
}

class FakeIo : public wsgi_fpm::python::RequestIo {
 public:
  wsgi_fpm::protocol::Params request;
  std::string body;            // what read_body hands out
  size_t read_pos = 0;
  size_t max_read = 1 << 20;   // per read_body call, to exercise short reads
  std::string written;
  std::vector<size_t> write_sizes;
  bool ended = false;
  bool aborted = false;
  bool fail_writes = false;

  const wsgi_fpm::protocol::Params& params() const override { return request; }
  ssize_t read_body(char* buf, size_t n) override {
    n = std::min({n, max_read, body.size() - read_pos});
    body.copy(buf, n, read_pos);
    read_pos += n;
    return static_cast<ssize_t>(n);
  }
  bool write(std::span<const std::string_view> pieces, bool last) override {
    if (fail_writes) return false;
    size_t size = 0;
    for (auto p : pieces) {
      written.append(p);
      size += p.size();
    }
    write_sizes.push_back(size);
    if (last) ended = true;
    return true;
  }
  void abort() override { aborted = true; }

  std::string status_line() const { return written.substr(0, written.find("\r\n")); }
  std::string response_body() const {
    auto at = written.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : written.substr(at + 4);
  }
};

// Writes `source` to a temporary .wsgi file and returns its path.
inline std::string write_script(const std::string& source) {
  char path[] = "/tmp/wsgi-fpm-unit-XXXXXX.wsgi";
  int fd = mkstemps(path, 5);
  if (fd < 0) std::abort();
  close(fd);
  std::ofstream(path) << source;
  return path;
}

}  // namespace test_support
