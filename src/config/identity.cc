#include "config/identity.h"

#include <charconv>

#include <fmt/core.h>

namespace wsgi_fpm::config {
namespace {

// mod_wsgi accepts user=#1001 and group=#1001 for ids without a name.
std::optional<unsigned> numeric_id(const std::string& text) {
  if (text.size() < 2 || text.front() != '#') return std::nullopt;
  unsigned id = 0;
  auto [end, ec] = std::from_chars(text.data() + 1, text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return id;
}

std::optional<UserInfo> find_user(const NameRef& ref, const UserDb& users, Reader& reader) {
  auto id = numeric_id(ref.text);
  auto found = id ? users.user_by_uid(*id) : users.user_by_name(ref.text);
  if (!found) {
    reader.error(ref.where, id ? fmt::format("unknown user id {}", *id)
                               : fmt::format("unknown user '{}'", ref.text));
  }
  return found;
}

std::optional<GroupRef> find_group(const NameRef& ref, const UserDb& users, Reader& reader) {
  auto id = numeric_id(ref.text);
  auto found = id ? users.group_by_gid(*id) : users.group_by_name(ref.text);
  if (!found) {
    reader.error(ref.where, id ? fmt::format("unknown group id {}", *id)
                               : fmt::format("unknown group '{}'", ref.text));
    return std::nullopt;
  }
  return GroupRef{found->name, found->gid};
}

// The group a defaulted gid stands for; "#gid" when it has no name.
GroupRef group_of(gid_t gid, const UserDb& users) {
  auto g = users.group_by_gid(gid);
  return GroupRef{g ? g->name : fmt::format("#{}", gid), gid};
}

void resolve_as_root(Pool& pool, const IdentityNames& names, const UserDb& users, Reader& reader) {
  std::optional<UserInfo> user;
  if (!names.user) {
    reader.error(pool.where, fmt::format("pool '{}' must set 'user' when wsgi-fpm runs as root", pool.name));
  } else {
    user = find_user(*names.user, users, reader);
  }
  if (user) {
    pool.user = UserRef{user->name, user->uid};
    if (user->uid == 0 && !pool.allow_root) {
      reader.error(names.user->where,
                   fmt::format("pool '{}' would run as root; set 'allow-root: true' if that is really wanted",
                               pool.name));
    }
    pool.group = group_of(user->gid, users);
    if (!names.home_given) pool.home = user->home.empty() ? "/" : user->home;
  }
  // Resolved even without a user, so that one run reports every unknown name.
  if (names.group) {
    if (auto g = find_group(*names.group, users, reader)) pool.group = *g;
  }
  if (names.supplementary_groups) {
    for (const auto& ref : *names.supplementary_groups) {
      if (auto g = find_group(ref, users, reader)) pool.supplementary_groups.push_back(*g);
    }
  }
}

// Without root, setuid/setgid/setgroups/chown to others all fail: say so now
// rather than when the first worker starts.
void resolve_as_self(Pool& pool, const IdentityNames& names, const UserDb& users, Reader& reader) {
  uid_t euid = users.effective_uid();
  gid_t egid = users.effective_gid();
  auto self = users.user_by_uid(euid);
  pool.user = UserRef{self ? self->name : fmt::format("#{}", euid), euid};
  pool.group = group_of(egid, users);
  if (!names.home_given) pool.home = self && !self->home.empty() ? self->home : "/";

  if (names.user) {
    auto user = find_user(*names.user, users, reader);
    if (user && user->uid != euid) {
      reader.error(names.user->where,
                   fmt::format("user '{}' differs from the user wsgi-fpm runs as ('{}'); only root "
                               "can run pools as other users",
                               names.user->text, pool.user.name));
    }
  }
  if (names.group) {
    auto group = find_group(*names.group, users, reader);
    if (group && group->gid != egid) {
      reader.error(names.group->where,
                   fmt::format("group '{}' differs from the group wsgi-fpm runs as ('{}'); only root "
                               "can switch groups",
                               names.group->text, pool.group.name));
    }
  }
  if (names.supplementary_groups && !names.supplementary_groups->empty()) {
    reader.error(names.supplementary_groups->front().where,
                 "'supplementary-groups' needs wsgi-fpm to run as root");
  }
}

}  // namespace

void resolve_identity(Pool& pool, const IdentityNames& names, const UserDb& users, Reader& reader) {
  bool root = users.effective_uid() == 0;
  if (root) {
    resolve_as_root(pool, names, users, reader);
  } else {
    resolve_as_self(pool, names, users, reader);
  }

  // The socket belongs to the pool's user and group unless the frontend
  // needs it to belong to someone else (mod_wsgi's socket-user).
  pool.socket_user = pool.user;
  if (names.socket_user) {
    if (auto user = find_user(*names.socket_user, users, reader)) {
      pool.socket_user = UserRef{user->name, user->uid};
      if (!root && user->uid != users.effective_uid()) {
        reader.error(names.socket_user->where,
                     fmt::format("socket-user '{}' differs from the user wsgi-fpm runs as ('{}'); only "
                                 "root can give sockets to other users",
                                 names.socket_user->text, pool.user.name));
      }
    }
  }
  pool.socket_group = pool.group;
  if (names.socket_group) {
    if (auto g = find_group(*names.socket_group, users, reader)) pool.socket_group = *g;
  }

  if (names.script_user) {
    if (auto user = find_user(*names.script_user, users, reader)) {
      pool.script_user = UserRef{user->name, user->uid};
    }
  }
  if (names.script_group) {
    if (auto g = find_group(*names.script_group, users, reader)) pool.script_group = *g;
  }
}

}  // namespace wsgi_fpm::config
