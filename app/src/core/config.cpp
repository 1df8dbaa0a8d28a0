// SPDX-License-Identifier: MIT
#include "core/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "fastcgi/peer_allow_list.hpp"

namespace cppapi {
namespace {

[[noreturn]] void bad_value(std::string_view value, std::string_view expected) {
  throw std::invalid_argument(fmt::format("expected {}, got \"{}\"", expected, value));
}

long parse_integer(std::string_view value, long min, long max) {
  long result = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), result);
  if (error != std::errc{} || end != value.data() + value.size() || result < min || result > max)
    bad_value(value, fmt::format("an integer from {} to {}", min, max));
  return result;
}

/// "8388608", "64k", "8m", "1g".
std::size_t parse_size(std::string_view value) {
  std::size_t multiplier = 1;
  std::string_view digits = value;
  if (!value.empty()) {
    switch (value.back()) {
      case 'k':
      case 'K':
        multiplier = 1ull << 10;
        break;
      case 'm':
      case 'M':
        multiplier = 1ull << 20;
        break;
      case 'g':
      case 'G':
        multiplier = 1ull << 30;
        break;
      default:
        break;
    }
    if (multiplier != 1) digits.remove_suffix(1);
  }
  std::size_t number = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
      number > (1ull << 40) / multiplier)
    bad_value(value, "a size in bytes, optionally with k, m or g");
  return number * multiplier;
}

bool parse_bool(std::string_view value) {
  if (value == "true" || value == "on" || value == "1") return true;
  if (value == "false" || value == "off" || value == "0") return false;
  bad_value(value, "true or false");
}

int as_int(std::string_view value, long min, long max) { return static_cast<int>(parse_integer(value, min, max)); }

/// "500ms", "2s", "1m"; a bare number is seconds; "off" or 0 is off. In milliseconds.
int parse_duration_ms(std::string_view value) {
  if (value == "off" || value == "false") return 0;
  long multiplier = 1000;
  std::string_view digits = value;
  if (digits.ends_with("ms")) {
    multiplier = 1;
    digits.remove_suffix(2);
  } else if (digits.ends_with("s")) {
    digits.remove_suffix(1);
  } else if (digits.ends_with("m")) {
    multiplier = 60'000;
    digits.remove_suffix(1);
  }
  long number = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
  if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() || number < 0 ||
      number > 86'400'000 / multiplier)
    bad_value(value, "a duration such as 500ms, 2s or 1m (up to a day), or off");
  return static_cast<int>(number * multiplier);
}

const std::vector<SettingKey> kKeys = {
    {"listen", "where to listen: unix:/path/to.sock or HOST:PORT ([::1]:PORT for IPv6)", false,
     [](Settings& s, std::string_view v) { s.listen = v; }},
    {"processes", "worker processes under a master (0: serve in this process, no master)", false,
     [](Settings& s, std::string_view v) { s.processes = as_int(v, 0, 1024); }},
    {"threads", "threads accepting requests in each process", false,
     [](Settings& s, std::string_view v) { s.threads = as_int(v, 1, 1024); }},
    {"engine", "event (cppAPI's own FastCGI, the default) or libfcgi (libfcgi's FCGX_Accept_r; docs/engine.md)", false,
     [](Settings& s, std::string_view v) {
       if (v == "event")
         s.engine = Engine::kEvent;
       else if (v == "libfcgi")
         s.engine = Engine::kLibfcgi;
       else
         bad_value(v, "event or libfcgi");
     }},
    {"backlog", "length of the listen queue", false,
     [](Settings& s, std::string_view v) { s.backlog = as_int(v, 1, 65535); }},
    {"shutdown_timeout", "seconds a stop waits for requests in flight", false,
     [](Settings& s, std::string_view v) { s.shutdown_timeout_ms = as_int(v, 0, 3600) * 1000; }},
    {"start_timeout", "seconds a reload or an upgrade waits for its new workers to accept (else they stop)", false,
     [](Settings& s, std::string_view v) { s.start_timeout_ms = as_int(v, 1, 3600) * 1000; }},
    {"max_requests", "a worker retires after this many requests and is replaced (0: never)", false,
     [](Settings& s, std::string_view v) { s.max_requests = parse_integer(v, 0, 1'000'000'000'000); }},
    {"request_timeout", "seconds a handler may run: then 504 and its worker is replaced (0: no limit)", false,
     [](Settings& s, std::string_view v) { s.request_timeout_ms = as_int(v, 0, 86400) * 1000; }},
    {"prefix", "the URI prefix before the call, e.g. /api/", false,
     [](Settings& s, std::string_view v) {
       if (v.empty() || v.front() != '/') bad_value(v, "a path starting with /");
       s.prefix = v;
     }},
    {"socket_mode", "permissions of a unix socket, octal", false,
     [](Settings& s, std::string_view v) { s.socket_mode = v; }},
    {"socket_owner", "owner of a unix socket (user name or uid); default: --user when dropping root", false,
     [](Settings& s, std::string_view v) { s.socket_owner = v; }},
    {"socket_group", "group of a unix socket (group name or gid), e.g. www-data for nginx", false,
     [](Settings& s, std::string_view v) { s.socket_group = v; }},
    {"allow_from", "TCP peer addresses allowed to connect (repeatable or comma-separated; IPv4 and IPv6, exact)", true,
     [](Settings& s, std::string_view v) {
       PeerAllowList::parse(v);  // throws on a bad address
       s.allow_from.emplace_back(v);
     }},
    {"user", "started as root: the user to switch to after opening the socket (root: stay root)", false,
     [](Settings& s, std::string_view v) { s.user = v; }},
    {"group", "with --user: the group to switch to instead of the user's own", false,
     [](Settings& s, std::string_view v) { s.group = v; }},
    {"cors_origin", "an origin allowed to call cross-site (repeatable; * for any)", true,
     [](Settings& s, std::string_view v) { s.cors_origins.emplace_back(v); }},
    {"cross_site_guard", "refuse calls from other sites' pages (403) unless their origin is a cors_origin", false,
     [](Settings& s, std::string_view v) { s.cross_site_guard = parse_bool(v); }},
    {"log_file", "log to this file instead of stderr (reopened on SIGUSR1)", false,
     [](Settings& s, std::string_view v) { s.log_file = v; }},
    {"access_log", "one log line per request", false,
     [](Settings& s, std::string_view v) { s.access_log = parse_bool(v); }},
    {"debug", "show exception text in 500 replies (never in production)", false,
     [](Settings& s, std::string_view v) { s.debug = parse_bool(v); }},
    {"openapi", "serve the generated description: <prefix>openapi.json and <prefix>calls.js", false,
     [](Settings& s, std::string_view v) { s.openapi = parse_bool(v); }},
    {"max_uri_bytes", "longest REQUEST_URI accepted (414 beyond)", false,
     [](Settings& s, std::string_view v) { s.limits.max_uri_bytes = parse_size(v); }},
    {"max_arguments", "most arguments in one call (400 beyond)", false,
     [](Settings& s, std::string_view v) { s.limits.max_arguments = parse_size(v); }},
    {"max_body_bytes", "largest request body (413 beyond)", false,
     [](Settings& s, std::string_view v) { s.limits.max_body_bytes = parse_size(v); }},
    {"max_params_bytes", "largest FastCGI parameter block, i.e. request headers (connection dropped beyond)", false,
     [](Settings& s, std::string_view v) { s.limits.max_params_bytes = parse_size(v); }},
    {"status_listen",
     "a second FastCGI listener, served by the master, for the ping, status and metrics pages "
     "(unix:PATH or HOST:PORT; keep it private)",
     false, [](Settings& s, std::string_view v) { s.status_listen = v; }},
    {"slowlog_threshold",
     "log a request still running after this long (500ms, 2s), with its thread's stack; off by default", false,
     [](Settings& s, std::string_view v) { s.slowlog_threshold_ms = parse_duration_ms(v); }},
    {"read_timeout", "seconds a connection may stall in a request, or stay silent once accepted", false,
     [](Settings& s, std::string_view v) { s.read_timeout_ms = as_int(v, 1, 3600) * 1000; }},
    {"idle_timeout", "seconds a kept-alive connection may sit idle", false,
     [](Settings& s, std::string_view v) { s.idle_timeout_ms = as_int(v, 1, 86400) * 1000; }},
    {"write_timeout", "seconds a reply may make no progress (the client reads nothing) before the connection is closed",
     false, [](Settings& s, std::string_view v) { s.write_timeout_ms = as_int(v, 1, 3600) * 1000; }},
    {"max_connections", "FastCGI connections open at once in each process; beyond, accepting waits", false,
     [](Settings& s, std::string_view v) { s.max_connections = as_int(v, 1, 1'000'000); }},
};

std::string normalize_key(std::string_view key) {
  std::string name(key);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

const SettingKey* find_key(std::string_view key) {
  const std::string name = normalize_key(key);
  for (const SettingKey& entry : kKeys)
    if (name == entry.name) return &entry;
  return nullptr;
}

}  // namespace

const std::vector<SettingKey>& setting_keys() { return kKeys; }

void apply_setting(Settings& settings, std::string_view key, std::string_view value) {
  const SettingKey* entry = find_key(key);
  if (!entry) throw std::invalid_argument(fmt::format("unknown key \"{}\"", key));
  try {
    entry->apply(settings, value);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(fmt::format("{}: {}", entry->name, error.what()));
  }
}

void load_config_file(const std::string& path, Settings& settings) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    throw std::runtime_error(fmt::format("{}:{}: {}", path, error.source().begin.line, error.description()));
  }
  for (const auto& [key, node] : table) {
    const auto line = node.source().begin.line;
    const auto where = [&, &name = key] { return fmt::format("{}:{}: {}", path, line, name.str()); };
    const SettingKey* entry = find_key(key.str());
    if (!entry) throw std::runtime_error(fmt::format("{}: unknown key", where()));
    const auto apply_node = [&](const toml::node& value) {
      std::string text;
      if (auto s = value.value<std::string>(); s && value.is_string())
        text = *s;
      else if (auto i = value.as_integer())
        text = std::to_string(i->get());
      else if (auto b = value.as_boolean())
        text = b->get() ? "true" : "false";
      else
        throw std::runtime_error(fmt::format("{}: expected a string, integer or boolean", where()));
      try {
        entry->apply(settings, text);
      } catch (const std::invalid_argument& error) {
        throw std::runtime_error(fmt::format("{}: {}", where(), error.what()));
      }
    };
    if (const toml::array* list = node.as_array()) {
      if (!entry->repeatable) throw std::runtime_error(fmt::format("{}: takes one value, not a list", where()));
      for (const toml::node& value : *list) apply_node(value);
    } else {
      apply_node(node);
    }
  }
}

void validate_settings(const Settings& settings) {
  if (settings.listen.empty()) throw std::runtime_error("nothing to listen on: give --listen unix:PATH or HOST:PORT");
}

std::string flag_name(const char* key) {
  std::string name = std::string("--") + key;
  for (char& c : name)
    if (c == '_') c = '-';
  return name;
}

Settings load_settings(const std::string& config_path, const SettingFlags& flags, EnvironmentLookup lookup) {
  Settings settings;
  const char* env_config = lookup("CPPAPI_CONFIG");
  const std::string path = !config_path.empty() ? config_path : env_config ? env_config : "";
  if (!path.empty()) load_config_file(path, settings);
  for (const SettingKey& key : setting_keys()) {
    std::string variable = "CPPAPI_";
    for (const char* c = key.name; *c; ++c) variable += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
    if (const char* value = lookup(variable.c_str())) {
      try {
        apply_setting(settings, key.name, value);
      } catch (const std::invalid_argument& error) {
        throw std::runtime_error(fmt::format("environment {}: {}", variable, error.what()));
      }
    }
  }
  for (const auto& [key, values] : flags)
    for (const std::string& value : values) {
      try {
        apply_setting(settings, key, value);
      } catch (const std::invalid_argument& error) {
        throw std::runtime_error(fmt::format("{}: {}", flag_name(key.c_str()), error.what()));
      }
    }
  return settings;
}

}  // namespace cppapi
