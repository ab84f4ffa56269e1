#include "config/load.h"

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <fmt/core.h>

#include "config/pool_reader.h"
#include "config/yaml_reader.h"

namespace wsgi_fpm::config {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> read_whole_file(const std::string& path, std::string& why) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    why = std::strerror(EISDIR);
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  return content.str();
}

// The same file however it is spelt, so that an include matching the main
// file, or two patterns matching one file, are recognised.
std::string canonical(const std::string& path) {
  std::error_code ec;
  auto p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return ec ? path : p.string();
}

bool has_glob_characters(std::string_view pattern) {
  return pattern.find_first_of("*?[") != std::string_view::npos;
}

// glob() calls this for each directory it cannot open. A directory that does
// not exist just matches nothing (pools.d may not be created yet); one that
// cannot be read would hide tenants, so that aborts with its errno kept.
thread_local int glob_failure = 0;
int on_glob_error(const char*, int error) {
  if (error == ENOENT || error == ENOTDIR) return 0;
  glob_failure = error;
  return 1;
}

class Loader {
 public:
  explicit Loader(const UserDb& users) : users_(users) {}

  LoadResult load(std::string_view yaml, const std::string& filename) {
    config_.source_file = filename;
    config_.where = SourceLocation{filename, 1, 1};
    files_.push_back(canonical(filename));
    load_main(yaml, filename);
    check_across_pools();
    return finish();
  }

  LoadResult unreadable(const std::string& filename, const std::string& why) {
    errors_.push_back({SourceLocation{filename, 0, 0}, fmt::format("cannot read the file: {}", why)});
    return finish();
  }

 private:
  // Parses one YAML document; syntax errors become diagnostics. An empty
  // file is an empty document (a null node).
  std::optional<YAML::Node> parse(std::string_view yaml, Reader& r) {
    try {
      auto docs = YAML::LoadAll(std::string(yaml));
      if (docs.size() > 1) {
        r.error(r.at(docs[1].Mark()), "only one YAML document is allowed (found a second after '---')");
        return std::nullopt;
      }
      return docs.empty() ? YAML::Node() : docs.front();
    } catch (const YAML::Exception& e) {
      r.error(r.at(e.mark), fmt::format("YAML syntax error: {}", e.msg));
      return std::nullopt;
    }
  }

  void load_main(std::string_view yaml, const std::string& filename) {
    Reader r(filename, errors_);
    auto root = parse(yaml, r);
    if (!root) return;
    std::vector<Entry> entries;
    if (!root->IsNull()) entries = r.entries(*root, r.at(root->Mark()), "the configuration");

    // Pools need runtime-dir for their default address, so the other keys
    // are read first, wherever they appear in the file.
    std::optional<Entry> pools, include;
    r.dispatch(entries, {
        {"runtime-dir", [&](const Entry& e) {
           auto s = r.absolute_path(e);
           if (!s) return;
           // "/run/wsgi-fpm/" would make "/run/wsgi-fpm//a.sock" of a default address.
           while (s->size() > 1 && s->back() == '/') s->pop_back();
           config_.runtime_dir = *s;
         }},
        {"log", [&](const Entry& e) {
           auto s = r.string(e);
           if (s && *s != "stderr" && !s->starts_with("/")) {
             r.error(e.value_where, fmt::format("'log' must be 'stderr' or an absolute path, not '{}'", *s));
           } else if (s) {
             config_.log = *s;
           }
         }},
        {"include", [&](const Entry& e) { include = e; }},
        {"pools", [&](const Entry& e) { pools = e; }},
    });
    for (const auto& e : entries) {
      if (e.key == "runtime-dir" || e.key == "log" || e.key == "include" || e.key == "pools") {
        config_.locations.set(e.key, e.value_where);
      }
    }

    if (pools) read_pools(r, *pools);
    if (include) read_includes(r, *include);
  }

  void read_pools(Reader& r, const Entry& e) {
    // `pools:` with every tenant commented out is an empty mapping, not a mistake.
    if (e.value.IsNull()) return;
    for (const auto& pool_entry : r.entries(e.value, e.value_where, "'pools'")) {
      config_.pools.push_back(read_pool(r, pool_entry, config_.runtime_dir, users_));
    }
  }

  void read_includes(Reader& r, const Entry& e) {
    auto patterns = r.string_list(e, 0);
    if (!patterns) return;
    fs::path base = fs::path(r.file()).parent_path();
    for (const auto& item : *patterns) {
      config_.include.push_back(item.text);
      // Relative patterns follow the file that names them, not the cwd.
      std::string pattern = fs::path(item.text).is_absolute() ? item.text : (base / item.text).string();
      glob_t matches{};
      glob_failure = 0;
      int rc = glob(pattern.c_str(), 0, on_glob_error, &matches);
      if (rc == GLOB_NOMATCH && !has_glob_characters(item.text)) {
        r.error(item.where, fmt::format("included file '{}' does not exist", pattern));
      } else if (rc == GLOB_ABORTED) {
        r.error(item.where, fmt::format("cannot read the directory of '{}': {}", pattern,
                                        std::strerror(glob_failure)));
      } else if (rc == GLOB_NOSPACE) {
        r.error(item.where, fmt::format("cannot expand '{}': out of memory", pattern));
      }
      // glob() sorts its matches: tenants load in a stable, visible order.
      for (std::size_t i = 0; rc == 0 && i < matches.gl_pathc; ++i) {
        load_included(matches.gl_pathv[i], item.where, r);
      }
      globfree(&matches);
    }
  }

  void load_included(const std::string& path, const SourceLocation& from, Reader& including) {
    std::string key = canonical(path);
    if (key == files_.front()) {
      including.error(from, fmt::format("include pattern matches the main configuration file '{}'", path));
      return;
    }
    if (std::find(files_.begin(), files_.end(), key) != files_.end()) return;  // matched twice
    files_.push_back(key);
    config_.included_files.push_back(path);

    std::string why;
    auto yaml = read_whole_file(path, why);
    if (!yaml) {
      including.error(from, fmt::format("cannot read included file '{}': {}", path, why));
      return;
    }
    Reader r(path, errors_);
    auto root = parse(*yaml, r);
    if (!root || root->IsNull()) return;  // an empty tenant file defines nothing
    auto entries = r.entries(*root, r.at(root->Mark()), "an included file");
    r.dispatch(entries, {{"pools", [&](const Entry& e) { read_pools(r, e); }}},
               {{"runtime-dir", "can only be set in the main configuration file"},
                {"log", "can only be set in the main configuration file"},
                {"include", "cannot be nested: list every pattern in the main configuration file"}});
  }

  // Each pool against the earlier ones with its name or its socket path or
  // port, found by hashing: comparing every pair was half a million
  // comparisons at 1,000 pools, on every check, start and reload.
  void check_across_pools() {
    const auto& pools = config_.pools;
    std::unordered_map<std::string_view, std::size_t> first_named;
    std::unordered_map<std::string, std::vector<std::size_t>> on_address;  // "/path" or ":port"
    for (std::size_t i = 0; i < pools.size(); ++i) {
      // Only across files: within one, the duplicate-key check caught it
      // and kept the first.
      auto [first, fresh] = first_named.emplace(pools[i].name, i);
      if (!fresh) {
        errors_.push_back({pools[i].where, fmt::format("duplicate pool '{}' (first defined at {})",
                                                       pools[i].name, pools[first->second].where.str())});
      }
      const Address& a = pools[i].listen;
      if (!a.is_tcp() && a.path.empty()) continue;  // not parsed: reported already
      auto& earlier = on_address[a.is_tcp() ? fmt::format(":{}", a.port) : a.path];
      for (std::size_t j : earlier) {
        const Address& b = pools[j].listen;
        if (pools[i].name != pools[j].name && a.conflicts_with(b)) {
          errors_.push_back({pools[i].location_of("listen"),
                             fmt::format("pool '{}' cannot listen on '{}': pool '{}' already listens on '{}' ({})",
                                         pools[i].name, a.str(), pools[j].name, b.str(),
                                         pools[j].location_of("listen").str())});
          break;
        }
      }
      earlier.push_back(i);
    }
    if (pools.empty() && errors_.empty()) {
      errors_.push_back({config_.where, "no pools defined: add a 'pools' mapping or an 'include'"});
    }
  }

  LoadResult finish() {
    // Report in reading order: file by file as loaded, then line and column.
    std::vector<std::pair<std::tuple<std::ptrdiff_t, int, int>, Diagnostic>> ranked;
    for (auto& d : errors_) {
      auto file = std::find(files_.begin(), files_.end(), canonical(d.where.file)) - files_.begin();
      ranked.emplace_back(std::tuple(file, d.where.line, d.where.column), std::move(d));
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    LoadResult result;
    for (auto& [rank, d] : ranked) result.errors.push_back(std::move(d));
    if (result.errors.empty()) result.config = std::move(config_);
    return result;
  }

  const UserDb& users_;
  Config config_;
  std::vector<Diagnostic> errors_;
  std::vector<std::string> files_;  // canonical paths: the main file, then includes as loaded
};

}  // namespace

LoadResult load_string(std::string_view yaml, const std::string& filename, const UserDb& users) {
  return Loader(users).load(yaml, filename);
}

LoadResult load_file(const std::string& path, const UserDb& users) {
  std::string why;
  auto yaml = read_whole_file(path, why);
  if (!yaml) return Loader(users).unreadable(path, why);
  return Loader(users).load(*yaml, path);
}

}  // namespace wsgi_fpm::config
