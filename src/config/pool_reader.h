// Reading one pool (and its apps) from its YAML mapping. Internal to the
// config module: load.cc calls it once per entry of every `pools` mapping.
#pragma once

#include <string>

#include "config/schema.h"
#include "config/user_db.h"
#include "config/yaml_reader.h"

namespace wsgi_fpm::config {

// Reads the pool `entry` (its key is the pool name), reporting every problem
// through `reader`. Always returns the pool as far as it could be read, so
// that checks across pools (names, addresses) still run on a broken one; a
// listen address that failed to parse is left with an empty path.
Pool read_pool(Reader& reader, const Entry& entry, const std::string& runtime_dir, const UserDb& users);

}  // namespace wsgi_fpm::config
