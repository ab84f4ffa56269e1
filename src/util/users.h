// Account lookups by name, thread-safe (getpwnam_r/getgrnam_r).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace wsgi_fpm {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // primary group
  std::string home;
};

std::optional<Account> find_user(const std::string& name);
std::optional<Account> find_user(uid_t uid);
std::optional<gid_t> find_group(const std::string& name);
// The user's supplementary groups from the group database (as initgroups sees them).
std::vector<gid_t> groups_of(const Account& user);

}  // namespace wsgi_fpm
