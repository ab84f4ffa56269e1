// wsgi-fpm run [-c FILE]: the supervisor in the foreground.
#include <string>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "supervisor/supervisor.h"
#include "util/descriptors.h"

namespace wsgi_fpm::cli {

int run_command(int argc, char** argv) {
  std::string path;
  Arguments args("run", std::string("usage: wsgi-fpm run [-c FILE]\n\n"
                                    "Starts the supervisor in the foreground with the configuration FILE\n"
                                    "(default ") + kDefaultConfigPath + "). SIGTERM or SIGINT stop it\n"
                    "gracefully, SIGHUP reloads the configuration, SIGUSR1 reopens log files.\n");
  args.config(&path);
  if (int status = args.parse(argc, argv); status >= 0) return status;
  // What the shell that started us had open stays ours (a socket systemd
  // passed, say) but reaches no worker: workers close everything beyond
  // their contract anyway, and whatever else we ever start inherits nothing.
  mark_cloexec_from(3);
  supervisor::Supervisor supervisor(path);
  return supervisor.run();
}

}  // namespace wsgi_fpm::cli
