// Where the running supervisor of a configuration file listens for
// `wsgi-fpm status`, `reload` and `stop`: its runtime-dir's control.sock.
#pragma once

#include <string>

namespace wsgi_fpm::config {

// runtime-dir/control.sock of the file at `config_path` (/run/wsgi-fpm by
// default). Read with plain YAML, so that a configuration with errors
// elsewhere still finds its supervisor (`reload` of a broken file must
// reach it, to be refused with every error).
std::string control_socket_of(const std::string& config_path);

}  // namespace wsgi_fpm::config
