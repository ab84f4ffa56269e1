#pragma once

namespace wsgi_fpm::supervisor {

// wsgi-fpm serve SCRIPT [options]: one pool for one script, in the foreground.
int serve_command(int argc, char** argv);

}  // namespace wsgi_fpm::supervisor
