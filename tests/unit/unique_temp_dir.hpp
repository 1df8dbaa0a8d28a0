// SPDX-License-Identifier: MIT
// A directory of one test's own under GoogleTest's temp dir, removed with its files at the
// end: tests that write files never share a name, so ctest -j cannot make them race.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace cppapi::test {

class UniqueTempDir {
 public:
  UniqueTempDir() {
    std::string pattern = testing::TempDir() + "cppapi_unit_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
    path_ = pattern;
  }
  ~UniqueTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  UniqueTempDir(const UniqueTempDir&) = delete;
  UniqueTempDir& operator=(const UniqueTempDir&) = delete;

  /// <dir>/name
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace cppapi::test
