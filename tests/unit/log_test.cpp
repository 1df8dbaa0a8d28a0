// SPDX-License-Identifier: MIT
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "core/log.hpp"
#include "unique_temp_dir.hpp"

namespace cppapi {
namespace {

TEST(Log, AFileThatCannotBeOpenedStopsTheStart) {
  EXPECT_THROW(setup_logging("/nonexistent-dir/cppapi.log", true), std::runtime_error);
}

TEST(Log, AccessLinesGoToTheFile) {
  const test::UniqueTempDir dir;  // per test: ctest -j runs tests at once
  const std::string path = dir / "cppapi.log";
  setup_logging(path, true);
  log_access("GET", "add", 200, 1, std::chrono::microseconds(12));
  std::ifstream file(path);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("GET add 200 1B 12us"), std::string::npos) << text;
  setup_logging("", false);
}

}  // namespace
}  // namespace cppapi
