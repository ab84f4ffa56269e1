#pragma once

namespace wsgi_fpm::client {

// wsgi-fpm status [-c FILE] [--json]
int status_command(int argc, char** argv);
// wsgi-fpm reload [-c FILE]
int reload_command(int argc, char** argv);
// wsgi-fpm stop [-c FILE]
int stop_command(int argc, char** argv);

}  // namespace wsgi_fpm::client
