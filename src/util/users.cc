#include "util/users.h"

#include <grp.h>
#include <pwd.h>

namespace wsgi_fpm {
namespace {

std::optional<Account> from_passwd(passwd* pw) {
  if (!pw) return std::nullopt;
  return Account{pw->pw_name, pw->pw_uid, pw->pw_gid, pw->pw_dir ? pw->pw_dir : ""};
}

}  // namespace

std::optional<Account> find_user(const std::string& name) {
  passwd pw, *result = nullptr;
  std::vector<char> buf(16384);
  if (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result) != 0) return std::nullopt;
  return from_passwd(result);
}

std::optional<Account> find_user(uid_t uid) {
  passwd pw, *result = nullptr;
  std::vector<char> buf(16384);
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) != 0) return std::nullopt;
  return from_passwd(result);
}

std::optional<gid_t> find_group(const std::string& name) {
  group gr, *result = nullptr;
  std::vector<char> buf(65536);
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &result) != 0 || !result)
    return std::nullopt;
  return result->gr_gid;
}

std::vector<gid_t> groups_of(const Account& user) {
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  while (getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count) + 16);
    count = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<size_t>(count));
  return groups;
}

}  // namespace wsgi_fpm
