// `wsgi-fpm check [-c FILE]`: validate a configuration without running it.
#pragma once

namespace wsgi_fpm::config {

// The path `run`, `check`, `reload` ... read when no -c is given.
inline constexpr const char* kDefaultConfigPath = "/etc/wsgi-fpm/wsgi-fpm.yaml";

// argv[0] is "check". Prints every error as FILE:LINE:COL: message on stderr
// and returns 1, or prints "FILE: ok, N pools" on stdout and returns 0.
// Returns 2 on a usage error.
int check_command(int argc, char** argv);

}  // namespace wsgi_fpm::config
