// SPDX-License-Identifier: MIT
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "core/log.hpp"

namespace cppapi {
namespace {

TEST(Log, AFileThatCannotBeOpenedStopsTheStart) {
  EXPECT_THROW(setup_logging("/nonexistent-dir/cppapi.log", true), std::runtime_error);
}

TEST(Log, AccessLinesGoToTheFile) {
  const std::string path = testing::TempDir() + "cppapi_log_test.log";
  std::remove(path.c_str());
  setup_logging(path, true);
  log_access("GET", "add", 200, 1, std::chrono::microseconds(12));
  std::ifstream file(path);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("GET add 200 1B 12us"), std::string::npos) << text;
  setup_logging("", false);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace cppapi
