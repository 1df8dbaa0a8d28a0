// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
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

std::string read_all(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

TEST(Log, AReopenThatFailsKeepsWritingToTheOpenFileAndSaysSo) {
  namespace fs = std::filesystem;
  const fs::path folder = testing::TempDir() + "cppapi_log_reopen", moved = folder.string() + ".moved";
  fs::remove_all(folder);
  fs::remove_all(moved);
  fs::create_directories(folder);
  setup_logging((folder / "cppapi.log").string(), true);
  fs::rename(folder, moved);  // the path no longer leads anywhere: the reopen must fail
  request_log_reopen();
  log_access("GET", "add", 200, 1, std::chrono::microseconds(12));
  const std::string text = read_all((moved / "cppapi.log").string());
  EXPECT_NE(text.find("cannot reopen log file"), std::string::npos) << text;
  EXPECT_NE(text.find("GET add 200 1B 12us"), std::string::npos) << text;
  setup_logging("", false);
  fs::remove_all(moved);
}

TEST(Log, TheFileIsNotInheritedByPrograms) {
  namespace fs = std::filesystem;
  const std::string path = testing::TempDir() + "cppapi_log_cloexec.log";
  setup_logging(path, true);
  int found = 0;
  for (const auto& entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ignored;
    if (fs::read_symlink(entry.path(), ignored) != fs::path(path)) continue;
    ++found;
    EXPECT_TRUE(::fcntl(std::stoi(entry.path().filename().string()), F_GETFD) & FD_CLOEXEC);
  }
  EXPECT_EQ(found, 1);
  setup_logging("", false);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace cppapi
