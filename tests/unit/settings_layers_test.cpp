// SPDX-License-Identifier: MIT
// Where a setting comes from: defaults, then the config file, then CPPAPI_<KEY>
// variables, then flags; each later source wins.
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "core/config.hpp"

namespace cppapi {
namespace {

std::map<std::string, std::string> g_environment;

char* fake_getenv(const char* name) {
  const auto found = g_environment.find(name);
  return found == g_environment.end() ? nullptr : found->second.data();
}

class SettingsLayers : public testing::Test {
 protected:
  void SetUp() override {
    g_environment.clear();
    dir_ = std::filesystem::path(testing::TempDir()) /
           ("cppapi_layers_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::create_directories(dir_);
    file_ = (dir_ / "cppapi.toml").string();
    std::ofstream(file_) << "threads = 3\nmax_requests = 100\nprefix = \"/file/\"\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::string file_;
};

TEST_F(SettingsLayers, DefaultsWhenNothingIsGiven) {
  const Settings settings = load_settings("", {}, fake_getenv);
  EXPECT_EQ(settings.threads, Settings{}.threads);
  EXPECT_EQ(settings.prefix, "/api/");
}

TEST_F(SettingsLayers, TheFileOverridesDefaults) {
  const Settings settings = load_settings(file_, {}, fake_getenv);
  EXPECT_EQ(settings.threads, 3);
  EXPECT_EQ(settings.max_requests, 100);
  EXPECT_EQ(settings.prefix, "/file/");
}

TEST_F(SettingsLayers, TheEnvironmentOverridesTheFile) {
  g_environment["CPPAPI_THREADS"] = "5";
  const Settings settings = load_settings(file_, {}, fake_getenv);
  EXPECT_EQ(settings.threads, 5);
  EXPECT_EQ(settings.max_requests, 100);  // untouched keys keep the file's value
}

TEST_F(SettingsLayers, FlagsOverrideTheEnvironmentAndTheFile) {
  g_environment["CPPAPI_THREADS"] = "5";
  g_environment["CPPAPI_MAX_REQUESTS"] = "7";
  const Settings settings = load_settings(file_, {{"threads", {"9"}}}, fake_getenv);
  EXPECT_EQ(settings.threads, 9);
  EXPECT_EQ(settings.max_requests, 7);
  EXPECT_EQ(settings.prefix, "/file/");
}

TEST_F(SettingsLayers, CppapiConfigNamesTheFileWhenNoPathIsGiven) {
  g_environment["CPPAPI_CONFIG"] = file_;
  EXPECT_EQ(load_settings("", {}, fake_getenv).threads, 3);
}

TEST_F(SettingsLayers, AnExplicitPathWinsOverCppapiConfig) {
  const std::string other = (dir_ / "other.toml").string();
  std::ofstream(other) << "threads = 11\n";
  g_environment["CPPAPI_CONFIG"] = file_;
  EXPECT_EQ(load_settings(other, {}, fake_getenv).threads, 11);
}

TEST_F(SettingsLayers, EachErrorNamesItsSource) {
  g_environment["CPPAPI_THREADS"] = "many";
  try {
    (void)load_settings(file_, {}, fake_getenv);
    FAIL() << "a bad variable was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("environment CPPAPI_THREADS"), std::string::npos) << error.what();
  }
  g_environment.clear();
  try {
    (void)load_settings(file_, {{"threads", {"many"}}}, fake_getenv);
    FAIL() << "a bad flag was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("--threads"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace cppapi
