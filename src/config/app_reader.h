// Reading a pool's `apps` list. Internal to the config module.
#pragma once

#include <vector>

#include "config/schema.h"
#include "config/yaml_reader.h"

namespace wsgi_fpm::config {

// Reads every app of the `apps` entry; reports problems (missing script,
// bad mount, two apps on one mount ...) and returns the apps it could read.
// App::preload is left false unless the app sets it; the pool fills it in.
std::vector<App> read_apps(Reader& reader, const Entry& apps);

}  // namespace wsgi_fpm::config
