#include "supervisor/worker_environment.h"

#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "build_config.h"

namespace wsgi_fpm::supervisor {

std::string find_worker_executable() {
  if (const char* env = std::getenv("WSGI_FPM_WORKER"); env && *env) return env;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string path(self, static_cast<size_t>(n));
    std::string beside = path.substr(0, path.rfind('/') + 1) + "wsgi-fpm-worker";
    if (access(beside.c_str(), X_OK) == 0) return beside;
  }
  return WSGI_FPM_WORKER_INSTALLED;
}

std::vector<std::string> worker_environment(const Account& user, const std::string& lang,
                                            const std::string& locale,
                                            const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"},
      {"HOME", user.home.empty() ? "/" : user.home},
      {"USER", user.name},
      {"LOGNAME", user.name},
      {"LANG", lang},
      {"LC_ALL", locale},
  };
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace wsgi_fpm::supervisor
