#pragma once

namespace wsgi_fpm::client {

// wsgi-fpm request ADDR [PATH]: one FastCGI or SCGI request, for diagnosis.
int request_command(int argc, char** argv);

}  // namespace wsgi_fpm::client
