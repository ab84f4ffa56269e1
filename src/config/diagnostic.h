// One problem found in a configuration file, and where.
#pragma once

#include <string>

#include "config/source_location.h"

namespace wsgi_fpm::config {

struct Diagnostic {
  SourceLocation where;
  std::string message;

  // "FILE:LINE:COL: message", the form editors and CI logs link to.
  std::string str() const { return where.str() + ": " + message; }
};

}  // namespace wsgi_fpm::config
