// Users and groups as the config loader needs them. An interface, so that the
// loader's rules (root needs a `user`, a non-root supervisor runs pools as
// itself) are tested against a fake password database, never the real one.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace wsgi_fpm::config {

struct UserInfo {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // primary group
  std::string home;
};

struct GroupInfo {
  std::string name;
  gid_t gid = 0;
};

class UserDb {
 public:
  virtual ~UserDb() = default;
  virtual std::optional<UserInfo> user_by_name(const std::string& name) const = 0;
  virtual std::optional<UserInfo> user_by_uid(uid_t uid) const = 0;
  virtual std::optional<GroupInfo> group_by_name(const std::string& name) const = 0;
  virtual std::optional<GroupInfo> group_by_gid(gid_t gid) const = 0;
  // Who is loading the config: decides which privilege rules apply.
  virtual uid_t effective_uid() const = 0;
  virtual gid_t effective_gid() const = 0;
};

// The real database, through getpwnam_r/getgrnam_r (so NSS sources such as
// LDAP work) and geteuid/getegid.
class SystemUserDb final : public UserDb {
 public:
  std::optional<UserInfo> user_by_name(const std::string& name) const override;
  std::optional<UserInfo> user_by_uid(uid_t uid) const override;
  std::optional<GroupInfo> group_by_name(const std::string& name) const override;
  std::optional<GroupInfo> group_by_gid(gid_t gid) const override;
  uid_t effective_uid() const override;
  gid_t effective_gid() const override;
};

}  // namespace wsgi_fpm::config
