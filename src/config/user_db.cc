#include "config/user_db.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
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

std::vector<gid_t> SystemUserDb::groups_of(const std::string& user, gid_t primary) const {
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  while (getgrouplist(user.c_str(), primary, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count) + 16);
    count = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<std::size_t>(count));
  return groups;
}

uid_t SystemUserDb::effective_uid() const { return geteuid(); }
gid_t SystemUserDb::effective_gid() const { return getegid(); }

namespace {

// getpwent/getgrent walk every source of nsswitch.conf in turn; the entries
// point into static storage, so each is copied before the next call.
UserDbListing list_system() {
  UserDbListing out;
  setpwent();
  while (passwd* pw = getpwent()) out.users.push_back(to_user(*pw));
  endpwent();
  setgrent();
  while (group* gr = getgrent()) {
    UserDbListing::Group g{to_group(*gr), {}};
    for (char** m = gr->gr_mem; m && *m; ++m) g.members.emplace_back(*m);
    out.groups.push_back(std::move(g));
  }
  endgrent();
  return out;
}

// The sources a database line names ("passwd: files systemd"), without the
// [STATUS=action] items; nullopt when the line is absent.
std::optional<std::vector<std::string>> nss_sources(std::string_view conf, std::string_view database) {
  std::istringstream lines{std::string(conf)};
  std::string line;
  while (std::getline(lines, line)) {
    line = line.substr(0, line.find('#'));
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream name_part(line.substr(0, colon));
    std::string name;
    name_part >> name;
    if (name != database) continue;
    std::istringstream words(line.substr(colon + 1));
    std::vector<std::string> sources;
    for (std::string w; words >> w;) {
      if (!w.starts_with("[")) sources.push_back(w);
    }
    return sources;
  }
  return std::nullopt;
}

}  // namespace

bool nss_sources_listable(std::string_view conf) {
  auto listable = [&](std::string_view database, std::string_view fallback) {
    auto sources = nss_sources(conf, database);
    if (!sources) sources = nss_sources(conf, fallback);  // initgroups defaults to group
    return sources && !sources->empty() && std::all_of(sources->begin(), sources->end(), [](const std::string& s) {
      return s == "files" || s == "systemd";
    });
  };
  return listable("passwd", "passwd") && listable("group", "group") && listable("initgroups", "group");
}

UserDbSnapshot::UserDbSnapshot(std::shared_ptr<const UserDb> source, std::optional<UserDbListing> listing)
    : source_(std::move(source)),
      listed_(listing.has_value()),
      euid_(source_->effective_uid()),
      egid_(source_->effective_gid()) {
  if (!listing) return;
  for (auto& u : listing->users) {
    listed_users_.insert(u.name);
    users_by_name_.emplace(u.name, u);
    users_by_uid_.emplace(u.uid, u);
  }
  for (auto& g : listing->groups) {
    groups_by_name_.emplace(g.info.name, g.info);
    groups_by_gid_.emplace(g.info.gid, g.info);
    for (auto& member : g.members) {
      auto& gids = memberships_[member];
      if (std::find(gids.begin(), gids.end(), g.info.gid) == gids.end()) gids.push_back(g.info.gid);
    }
  }
}

UserDbSnapshot UserDbSnapshot::of_system() {
  auto source = std::make_shared<SystemUserDb>();
  std::ifstream in("/etc/nsswitch.conf");
  std::ostringstream conf;
  conf << in.rdbuf();
  if (in && nss_sources_listable(conf.str())) return UserDbSnapshot(source, list_system());
  return UserDbSnapshot(source, std::nullopt);
}

namespace {

template <typename Map, typename Key, typename Ask>
auto remembered(Map& map, const Key& key, Ask ask) {
  auto it = map.find(key);
  if (it == map.end()) it = map.emplace(key, ask()).first;
  return it->second;
}

}  // namespace

std::optional<UserInfo> UserDbSnapshot::user_by_name(const std::string& name) const {
  return remembered(users_by_name_, name, [&] { return source_->user_by_name(name); });
}

std::optional<UserInfo> UserDbSnapshot::user_by_uid(uid_t uid) const {
  return remembered(users_by_uid_, uid, [&] { return source_->user_by_uid(uid); });
}

std::optional<GroupInfo> UserDbSnapshot::group_by_name(const std::string& name) const {
  return remembered(groups_by_name_, name, [&] { return source_->group_by_name(name); });
}

std::optional<GroupInfo> UserDbSnapshot::group_by_gid(gid_t gid) const {
  return remembered(groups_by_gid_, gid, [&] { return source_->group_by_gid(gid); });
}

std::vector<gid_t> UserDbSnapshot::groups_of(const std::string& user, gid_t primary) const {
  // A user the listing lacks came from elsewhere; so may its groups.
  if (!listed_users_.contains(user)) return source_->groups_of(user, primary);
  std::vector<gid_t> out{primary};
  if (auto it = memberships_.find(user); it != memberships_.end()) {
    for (gid_t g : it->second) {
      if (g != primary) out.push_back(g);
    }
  }
  return out;
}

}  // namespace wsgi_fpm::config
