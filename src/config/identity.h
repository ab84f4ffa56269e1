// Who a pool runs as, and who owns its socket: the privilege rules of the
// config in one place. Internal to the config module.
#pragma once

#include <optional>
#include <vector>

#include "config/schema.h"
#include "config/user_db.h"
#include "config/yaml_reader.h"

namespace wsgi_fpm::config {

// A user or group as written in the pool: a name or mod_wsgi's "#1001".
struct NameRef {
  std::string text;
  SourceLocation where;
};

struct IdentityNames {
  std::optional<NameRef> user, group, socket_user, socket_group, script_user, script_group;
  std::optional<std::vector<NameRef>> supplementary_groups;
  bool home_given = false;
};

// Resolves the names to ids and fills pool.user, group, supplementary_groups,
// socket_user, socket_group, script_user, script_group and (unless given)
// home. As root: `user` is required, root itself needs allow-root, and group
// defaults to the user's primary group. As anyone else: pools run as the
// current user and group, and naming another is an error, because only root
// can switch.
void resolve_identity(Pool& pool, const IdentityNames& names, const UserDb& users, Reader& reader);

}  // namespace wsgi_fpm::config
