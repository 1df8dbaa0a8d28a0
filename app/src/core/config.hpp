// SPDX-License-Identifier: MIT
// One table of settings serves both the command line and the config file, so a key
// means the same in both places and is parsed by the same code.
#pragma once
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/settings.hpp"

namespace cppapi {

struct SettingKey {
  const char* name;  ///< "max_body_bytes" in a file, --max-body-bytes on the command line
  const char* help;
  bool repeatable;                                   ///< may be given several times (an array in the file)
  void (*apply)(Settings&, std::string_view value);  ///< throws std::invalid_argument
};

/// Every key, in the order `--help` shows them.
const std::vector<SettingKey>& setting_keys();

/// Sets one key from its text form; throws std::invalid_argument naming key and value.
void apply_setting(Settings& settings, std::string_view key, std::string_view value);

/// Reads a TOML file (`threads = 8`, `listen = "unix:/run/cppapi/cppapi.sock"`).
/// An unknown key or a bad value throws std::runtime_error naming file, line and key.
void load_config_file(const std::string& path, Settings& settings);

/// Settings given as flags: key (as in the file) -> every value given for it.
using SettingFlags = std::map<std::string, std::vector<std::string>>;
/// Where CPPAPI_<KEY> variables come from (std::getenv; tests pass their own).
using EnvironmentLookup = char* (*)(const char*);

/// "--max-body-bytes" for "max_body_bytes".
std::string flag_name(const char* key);

/// Defaults, then the config file (`config_path`, else $CPPAPI_CONFIG), then
/// CPPAPI_<KEY> variables (spawners pass no flags), then flags: each later source
/// overrides the earlier ones. Errors name the source (file:line, variable, flag).
Settings load_settings(const std::string& config_path, const SettingFlags& flags,
                       EnvironmentLookup lookup = std::getenv);

/// Checks the settings as a whole before anything starts.
void validate_settings(const Settings& settings);

}  // namespace cppapi
