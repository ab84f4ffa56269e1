// The WSGI environ of one request (PEP 3333 and mod_wsgi's extra keys).
#pragma once

#include <Python.h>

#include <string>

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

// A request's environ: the template, every CGI parameter as a latin-1 str
// (HTTP_CONTENT_LENGTH and HTTP_CONTENT_TYPE dropped, as PEP 3333 requires),
// SCRIPT_NAME/PATH_INFO from `split`, and the request's streams. GIL held.
PyRef build_environ(PyObject* environ_template, const protocol::Params& params,
                    const protocol::PathSplit& split, PyObject* input, PyObject* errors);

}  // namespace wsgi_fpm::python
