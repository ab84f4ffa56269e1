// The commands of `wsgi-fpm COMMAND [options]` (main.cc dispatches). Each
// takes its own argv, argv[0] being the command's name, and returns the
// process's exit status: 0 done, 1 failed (its errors on stderr), 2 a usage
// error.
#pragma once

namespace wsgi_fpm::cli {

// The configuration `run`, `check`, `reload` ... read when no -c is given.
inline constexpr const char* kDefaultConfigPath = "/etc/wsgi-fpm/wsgi-fpm.yaml";

// wsgi-fpm run [-c FILE]: the supervisor, in the foreground.
int run_command(int argc, char** argv);
// wsgi-fpm serve SCRIPT [options]: one pool for one script, in the foreground.
int serve_command(int argc, char** argv);
// wsgi-fpm check [-c FILE]: every error as FILE:LINE:COL: message on stderr
// (status 1), or "FILE: ok, N pools" on stdout.
int check_command(int argc, char** argv);
// wsgi-fpm status [-c FILE] [--json], reload [-c FILE], stop [-c FILE]
// [--no-wait]: ask the running supervisor, over its control socket.
int status_command(int argc, char** argv);
int reload_command(int argc, char** argv);
int stop_command(int argc, char** argv);
// wsgi-fpm request ADDR [URI] [options]: one FastCGI or SCGI request.
int request_command(int argc, char** argv);

}  // namespace wsgi_fpm::cli
