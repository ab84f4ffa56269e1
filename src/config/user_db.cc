#include "config/user_db.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace wsgi_fpm::config {
namespace {

// getpw*_r/getgr*_r fill a caller-supplied buffer whose size is only a hint
// (sysconf may say -1, and LDAP groups with many members exceed it): start
// there and grow on ERANGE. The entry points into the buffer, so it is
// converted before the buffer goes away.
template <typename Entry, typename Lookup, typename Convert>
auto lookup_entry(Lookup lookup, Convert convert) -> std::optional<decltype(convert(Entry{}))> {
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 4096);
  for (;;) {
    Entry entry{};
    Entry* result = nullptr;
    int rc = lookup(&entry, buffer.data(), buffer.size(), &result);
    if (rc == ERANGE && buffer.size() < (1u << 24)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    // "Not found" and a failing NSS source alike leave the name unresolved;
    // the loader reports the name it could not resolve.
    if (rc != 0 || result == nullptr) return std::nullopt;
    return convert(entry);
  }
}

UserInfo to_user(const passwd& pw) {
  return UserInfo{pw.pw_name ? pw.pw_name : "", pw.pw_uid, pw.pw_gid, pw.pw_dir ? pw.pw_dir : ""};
}

GroupInfo to_group(const group& gr) { return GroupInfo{gr.gr_name ? gr.gr_name : "", gr.gr_gid}; }

}  // namespace

std::optional<UserInfo> SystemUserDb::user_by_name(const std::string& name) const {
  return lookup_entry<passwd>(
      [&](passwd* e, char* b, std::size_t n, passwd** r) { return getpwnam_r(name.c_str(), e, b, n, r); },
      to_user);
}

std::optional<UserInfo> SystemUserDb::user_by_uid(uid_t uid) const {
  return lookup_entry<passwd>(
      [&](passwd* e, char* b, std::size_t n, passwd** r) { return getpwuid_r(uid, e, b, n, r); },
      to_user);
}

std::optional<GroupInfo> SystemUserDb::group_by_name(const std::string& name) const {
  return lookup_entry<group>(
      [&](group* e, char* b, std::size_t n, group** r) { return getgrnam_r(name.c_str(), e, b, n, r); },
      to_group);
}

std::optional<GroupInfo> SystemUserDb::group_by_gid(gid_t gid) const {
  return lookup_entry<group>(
      [&](group* e, char* b, std::size_t n, group** r) { return getgrgid_r(gid, e, b, n, r); },
      to_group);
}

uid_t SystemUserDb::effective_uid() const { return geteuid(); }
gid_t SystemUserDb::effective_gid() const { return getegid(); }

}  // namespace wsgi_fpm::config
