// display-name: what `ps` shows for a worker, as mod_wsgi sets it.
#pragma once

#include <string>

namespace wsgi_fpm::worker {

// Expands %{GROUP} to "(wsgi:POOL)" as mod_wsgi does.
std::string expand_display_name(const std::string& pattern, const std::string& pool);

// Rewrites the process's argument area (what ps shows) and its comm name
// (what top shows). Call before any thread starts: argv is shared memory.
void set_process_title(int argc, char** argv, const std::string& title);

}  // namespace wsgi_fpm::worker
