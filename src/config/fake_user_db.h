// An in-memory UserDb for tests: a handful of users and groups and a chosen
// effective identity, so tests never depend on the machine's /etc/passwd.
#pragma once

#include <algorithm>
#include <map>
#include <vector>

#include "config/user_db.h"

namespace wsgi_fpm::config {

class FakeUserDb final : public UserDb {
 public:
  // Starts with root (uid 0, group root 0) and runs as root.
  FakeUserDb() {
    add_group("root", 0);
    add_user("root", 0, 0, "/root");
  }

  FakeUserDb& add_user(const std::string& name, uid_t uid, gid_t gid, const std::string& home) {
    users_[name] = UserInfo{name, uid, gid, home};
    return *this;
  }
  FakeUserDb& add_group(const std::string& name, gid_t gid) {
    groups_[name] = GroupInfo{name, gid};
    return *this;
  }
  // A user whose primary group has the same name and id, as adduser makes them.
  FakeUserDb& add_user_with_group(const std::string& name, uid_t id, const std::string& home) {
    add_group(name, static_cast<gid_t>(id));
    return add_user(name, id, static_cast<gid_t>(id), home);
  }
  FakeUserDb& add_member(const std::string& group, const std::string& user) {
    members_[group].push_back(user);
    return *this;
  }
  FakeUserDb& run_as(uid_t uid, gid_t gid) {
    euid_ = uid;
    egid_ = gid;
    return *this;
  }

  std::optional<UserInfo> user_by_name(const std::string& name) const override {
    ++lookups_;
    auto it = users_.find(name);
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<UserInfo> user_by_uid(uid_t uid) const override {
    ++lookups_;
    for (const auto& [name, user] : users_) {
      if (user.uid == uid) return user;
    }
    return std::nullopt;
  }
  std::optional<GroupInfo> group_by_name(const std::string& name) const override {
    ++lookups_;
    auto it = groups_.find(name);
    if (it == groups_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<GroupInfo> group_by_gid(gid_t gid) const override {
    ++lookups_;
    for (const auto& [name, group] : groups_) {
      if (group.gid == gid) return group;
    }
    return std::nullopt;
  }
  std::vector<gid_t> groups_of(const std::string& user, gid_t primary) const override {
    ++lookups_;
    std::vector<gid_t> out{primary};
    for (const auto& [name, users] : members_) {
      auto gid = groups_.at(name).gid;
      if (std::count(users.begin(), users.end(), user) && gid != primary) out.push_back(gid);
    }
    return out;
  }
  uid_t effective_uid() const override { return euid_; }

  // Every user and group as getpwent/getgrent would list them.
  UserDbListing listing() const {
    UserDbListing out;
    for (const auto& [name, user] : users_) out.users.push_back(user);
    for (const auto& [name, group] : groups_) {
      auto it = members_.find(name);
      out.groups.push_back({group, it == members_.end() ? std::vector<std::string>{} : it->second});
    }
    return out;
  }
  // How many lookups were asked of this database.
  int lookups() const { return lookups_; }
  gid_t effective_gid() const override { return egid_; }

 private:
  std::map<std::string, UserInfo> users_;
  std::map<std::string, GroupInfo> groups_;
  std::map<std::string, std::vector<std::string>> members_;
  mutable int lookups_ = 0;
  uid_t euid_ = 0;
  gid_t egid_ = 0;
};

}  // namespace wsgi_fpm::config
