// An in-memory UserDb for tests: a handful of users and groups and a chosen
// effective identity, so tests never depend on the machine's /etc/passwd.
#pragma once

#include <map>

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
  FakeUserDb& run_as(uid_t uid, gid_t gid) {
    euid_ = uid;
    egid_ = gid;
    return *this;
  }

  std::optional<UserInfo> user_by_name(const std::string& name) const override {
    auto it = users_.find(name);
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<UserInfo> user_by_uid(uid_t uid) const override {
    for (const auto& [name, user] : users_) {
      if (user.uid == uid) return user;
    }
    return std::nullopt;
  }
  std::optional<GroupInfo> group_by_name(const std::string& name) const override {
    auto it = groups_.find(name);
    if (it == groups_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<GroupInfo> group_by_gid(gid_t gid) const override {
    for (const auto& [name, group] : groups_) {
      if (group.gid == gid) return group;
    }
    return std::nullopt;
  }
  uid_t effective_uid() const override { return euid_; }
  gid_t effective_gid() const override { return egid_; }

 private:
  std::map<std::string, UserInfo> users_;
  std::map<std::string, GroupInfo> groups_;
  uid_t euid_ = 0;
  gid_t egid_ = 0;
};

}  // namespace wsgi_fpm::config
