// SPDX-License-Identifier: MIT
#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "dispatch/registry.hpp"

namespace cppapi {
namespace {

int one() { return 1; }
const detail::CallRecord kB = detail::make_record<&one>("b/x", "");
const detail::CallRecord kA = detail::make_record<&one>("a", "");
const detail::CallRecord kA2 = detail::make_record<&one>("a", "");
const detail::CallRecord kBad = detail::make_record<&one>("../a", "");

TEST(Registry, FindsByExactNameAndListsSorted) {
  const detail::CallRecord* const table[] = {&kB, &kA};
  const Registry registry(table);
  EXPECT_EQ(registry.find("a"), &kA);
  EXPECT_EQ(registry.find("b/x"), &kB);
  EXPECT_EQ(registry.find("b"), nullptr);
  EXPECT_EQ(registry.find("A"), nullptr);
  EXPECT_EQ(registry.find(""), nullptr);
  ASSERT_EQ(registry.all().size(), 2u);
  EXPECT_EQ(registry.all()[0], &kA);
}

TEST(Registry, RefusesDuplicatesAndBadNames) {
  const detail::CallRecord* const twice[] = {&kA, &kA2};
  EXPECT_THROW(Registry{twice}, std::invalid_argument);
  const detail::CallRecord* const bad[] = {&kBad};
  EXPECT_THROW(Registry{bad}, std::invalid_argument);
}

// Every file under the call folders must be in the generated table: a handler that
// went missing (a dropped object, a broken glob) fails here.
TEST(CallTable, HoldsEveryCallFile) {
  std::set<std::string> from_files;
  for (const char* dir : {CPPAPI_CALL_DIRS}) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
      if (entry.path().extension() != ".cpp") continue;
      std::string name = std::filesystem::relative(entry.path(), dir).replace_extension().generic_string();
      from_files.insert(name);
    }
  }
  std::set<std::string> from_table;
  const Registry registry(generated_call_table());
  for (const detail::CallRecord* record : registry.all()) from_table.insert(record->name);
  EXPECT_FALSE(from_files.empty());
  EXPECT_EQ(from_table, from_files);
}

}  // namespace
}  // namespace cppapi
