// What `wsgi-fpm check` warns about in a valid configuration: things that
// work, but put a pool at risk.
#pragma once

#include <cstdint>
#include <vector>

#include "config/diagnostic.h"
#include "config/schema.h"

namespace wsgi_fpm::config {

// Whoever may write a socket's directory may remove the socket, or put
// something in its place before the supervisor binds it; the supervisor
// never follows what it finds there (util/socket_file.h), but the pool is
// at that user's mercy all the same. One warning per such directory.
std::vector<Diagnostic> socket_directory_warnings(const Config& config);
// The descriptors the supervisor holds with every pool at full strength.
std::uint64_t descriptors_needed(const Config& config);

}  // namespace wsgi_fpm::config
