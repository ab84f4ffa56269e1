#include "config/schema.h"

#include <fmt/core.h>

namespace wsgi_fpm::config {

std::string SourceLocation::str() const {
  // Line 0 stands for the file as a whole (it could not be read at all).
  if (line <= 0) return file;
  return fmt::format("{}:{}:{}", file, line, column);
}

const char* to_string(Protocol p) { return p == Protocol::Scgi ? "scgi" : "fastcgi"; }

}  // namespace wsgi_fpm::config
