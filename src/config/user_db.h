// Users and groups as the config loader needs them. An interface, so that the
// loader's rules (root needs a `user`, a non-root supervisor runs pools as
// itself) are tested against a fake password database, never the real one.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

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
  // What initgroups(user, primary) would give the user: `primary` first,
  // then every group that lists the user as a member.
  virtual std::vector<gid_t> groups_of(const std::string& user, gid_t primary) const = 0;
  // Who is loading the config: decides which privilege rules apply.
  virtual uid_t effective_uid() const = 0;
  virtual gid_t effective_gid() const = 0;
};

// The real database, through getpwnam_r/getgrnam_r/getgrouplist (so NSS
// sources such as LDAP work) and geteuid/getegid. Each call reads the
// database anew: with the files source, a scan of /etc/passwd or /etc/group.
class SystemUserDb final : public UserDb {
 public:
  std::optional<UserInfo> user_by_name(const std::string& name) const override;
  std::optional<UserInfo> user_by_uid(uid_t uid) const override;
  std::optional<GroupInfo> group_by_name(const std::string& name) const override;
  std::optional<GroupInfo> group_by_gid(gid_t gid) const override;
  std::vector<gid_t> groups_of(const std::string& user, gid_t primary) const override;
  uid_t effective_uid() const override;
  gid_t effective_gid() const override;
};

// Every user and group of a database, with each group's members, as
// getpwent/getgrent list them.
struct UserDbListing {
  std::vector<UserInfo> users;
  struct Group {
    GroupInfo info;
    std::vector<std::string> members;
  };
  std::vector<Group> groups;
};

// One load's view of the user database, so that N pools cost one pass over
// it, not 4N: the loader looks up each pool's user and group and
// make_pool_spec the user and its groups again, and with the files source
// every lookup is a scan of /etc/passwd or /etc/group (at 1,000 tenants,
// ~2 million lines read and 0.3-0.5 s of a reload; getgrouplist alone, with
// Debian's `files systemd`, took half of it). With a listing, answers come
// from it; a name or id it lacks, and every lookup without a listing, goes
// to `source` once and is remembered.
class UserDbSnapshot final : public UserDb {
 public:
  UserDbSnapshot(std::shared_ptr<const UserDb> source, std::optional<UserDbListing> listing);
  // The system's database, listed when every NSS source of passwd, group and
  // initgroups is one that lists all its entries cheaply (see
  // nss_sources_listable); otherwise looked up name by name, each name once.
  static UserDbSnapshot of_system();

  std::optional<UserInfo> user_by_name(const std::string& name) const override;
  std::optional<UserInfo> user_by_uid(uid_t uid) const override;
  std::optional<GroupInfo> group_by_name(const std::string& name) const override;
  std::optional<GroupInfo> group_by_gid(gid_t gid) const override;
  std::vector<gid_t> groups_of(const std::string& user, gid_t primary) const override;
  uid_t effective_uid() const override { return euid_; }
  gid_t effective_gid() const override { return egid_; }

  bool listed() const { return listed_; }

 private:
  std::shared_ptr<const UserDb> source_;
  bool listed_ = false;
  uid_t euid_;  // asked once: the loader asks for every pool
  gid_t egid_;
  // Filled from the listing (the first entry of a name or id wins, as with
  // getpwnam on /etc/passwd), then with the source's answers, misses too.
  mutable std::map<std::string, std::optional<UserInfo>, std::less<>> users_by_name_;
  mutable std::map<uid_t, std::optional<UserInfo>> users_by_uid_;
  mutable std::map<std::string, std::optional<GroupInfo>, std::less<>> groups_by_name_;
  mutable std::map<gid_t, std::optional<GroupInfo>> groups_by_gid_;
  std::set<std::string, std::less<>> listed_users_;
  // user name -> the listed groups naming it as a member, in listing order.
  std::map<std::string, std::vector<gid_t>, std::less<>> memberships_;
};

// Whether /etc/nsswitch.conf's text names, for passwd, group and initgroups,
// only sources that getpwent/getgrent list completely and cheaply: `files`
// and `systemd`. A source such as ldap or sss may list nothing (enumeration
// off) or a whole directory over the network, so then lookups go name by name.
bool nss_sources_listable(std::string_view nsswitch_conf);

}  // namespace wsgi_fpm::config
