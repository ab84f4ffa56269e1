// Reading wsgi-fpm.yaml: parse, validate, resolve. Every problem in the file
// (and in its includes) is collected, not just the first, so one `check` run
// shows the operator everything to fix.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostic.h"
#include "config/schema.h"
#include "config/user_db.h"

namespace wsgi_fpm::config {

struct LoadResult {
  std::optional<Config> config;     // set iff errors is empty
  std::vector<Diagnostic> errors;   // in file order, includes after the main file

  bool ok() const { return config.has_value(); }
};

// Loads the file at `path` and the files its `include` globs match (relative
// globs are relative to the directory of the file that names them).
LoadResult load_file(const std::string& path, const UserDb& users);

// Same, for YAML text already in memory; `filename` is what diagnostics say
// and where relative includes are resolved from.
LoadResult load_string(std::string_view yaml, const std::string& filename, const UserDb& users);

}  // namespace wsgi_fpm::config
