// SPDX-License-Identifier: MIT
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "core/config.hpp"
#include "unique_temp_dir.hpp"

namespace cppapi {
namespace {

class ConfigFile : public testing::Test {
 protected:
  std::string write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_;
  }
  std::string error_of(const std::string& text) {
    Settings settings;
    try {
      load_config_file(write(text), settings);
    } catch (const std::runtime_error& error) {
      return error.what();
    }
    return "no error";
  }
  test::UniqueTempDir dir_;  // per test: ctest -j runs these tests at once
  std::string path_ = dir_ / "cppapi.toml";
};

TEST_F(ConfigFile, ReadsEveryKindOfValue) {
  Settings settings;
  load_config_file(write("listen = \"unix:/tmp/x.sock\"\nthreads = 8\naccess_log = false\n"
                         "cors_origin = [\"https://a.example\", \"https://b.example\"]\nmax_body_bytes = \"64k\"\n"
                         "max-arguments = 10\n"),
                   settings);
  EXPECT_EQ(settings.listen, "unix:/tmp/x.sock");
  EXPECT_EQ(settings.threads, 8);
  EXPECT_FALSE(settings.access_log);
  EXPECT_EQ(settings.cors_origins, (std::vector<std::string>{"https://a.example", "https://b.example"}));
  EXPECT_EQ(settings.limits.max_body_bytes, 65536u);
  EXPECT_EQ(settings.limits.max_arguments, 10u);
}

TEST_F(ConfigFile, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(error_of("threads = 4\nthreds = 8\n"), path_ + ":2: threds: unknown key");
  EXPECT_EQ(error_of("\n\nthreads = 0\n"), path_ + ":3: threads: expected an integer from 1 to 1024, got \"0\"");
  EXPECT_EQ(error_of("threads = \"many\"\n"), path_ + ":1: threads: expected an integer from 1 to 1024, got \"many\"");
  EXPECT_EQ(error_of("listen = [\"a\", \"b\"]\n"), path_ + ":1: listen: takes one value, not a list");
  EXPECT_EQ(error_of("threads = 1.5\n"), path_ + ":1: threads: expected a string, integer or boolean");
  EXPECT_EQ(error_of("prefix = \"api\"\n"), path_ + ":1: prefix: expected a path starting with /, got \"api\"");
  EXPECT_NE(error_of("threads = = 4\n").find(path_ + ":1:"), std::string::npos);
}

TEST(Config, SettingsFromText) {
  Settings settings;
  apply_setting(settings, "max-body-bytes", "2m");
  EXPECT_EQ(settings.limits.max_body_bytes, 2u << 20);
  apply_setting(settings, "shutdown_timeout", "5");
  EXPECT_EQ(settings.shutdown_timeout_ms, 5000);
  EXPECT_EQ(settings.start_timeout_ms, 10000);
  apply_setting(settings, "start-timeout", "2");
  EXPECT_EQ(settings.start_timeout_ms, 2000);
  EXPECT_THROW(apply_setting(settings, "start_timeout", "0"), std::invalid_argument);
  EXPECT_THROW(apply_setting(settings, "max_body_bytes", "2x"), std::invalid_argument);
  EXPECT_THROW(apply_setting(settings, "max_body_bytes", "-1"), std::invalid_argument);
  EXPECT_THROW(apply_setting(settings, "debug", "maybe"), std::invalid_argument);
  EXPECT_THROW(apply_setting(settings, "nonsense", "1"), std::invalid_argument);
}

TEST(Config, EngineIsEventUnlessLibfcgiIsAsked) {
  Settings settings;
  EXPECT_EQ(settings.engine, Engine::kEvent);
  apply_setting(settings, "engine", "libfcgi");
  EXPECT_EQ(settings.engine, Engine::kLibfcgi);
  apply_setting(settings, "engine", "event");
  EXPECT_EQ(settings.engine, Engine::kEvent);
  try {
    apply_setting(settings, "engine", "fcgi");
    ADD_FAILURE() << "engine fcgi was taken";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "engine: expected event or libfcgi, got \"fcgi\"");
  }
}

}  // namespace
}  // namespace cppapi
