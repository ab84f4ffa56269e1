// Which application group (Python sub-interpreter) serves a request, named
// exactly as mod_wsgi names it (WSGIApplicationGroup):
//   %{GLOBAL}    ""  (the main interpreter)
//   %{SERVER}    SERVER_NAME, plus ":PORT" unless the port is 80 or 443
//   %{HOST}      the Host header's name, plus ":PORT" likewise
//   %{RESOURCE}  %{SERVER} + "|" + the app's mount ("" for /)
//   %{ENV:NAME}  the request parameter NAME, else the environment variable
//                NAME; unset: the literal pattern
//   anything else: that fixed name
#pragma once

#include <string>
#include <string_view>

#include "protocol/params.h"

namespace wsgi_fpm::worker {

std::string application_group(std::string_view pattern, const protocol::Params& params,
                              std::string_view script_name);

// True if the group does not depend on the request (so it can be preloaded).
bool application_group_is_fixed(std::string_view pattern);

}  // namespace wsgi_fpm::worker
