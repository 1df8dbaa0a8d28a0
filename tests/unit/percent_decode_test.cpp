// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include "dispatch/percent_decode.hpp"

namespace cppapi {
namespace {

TEST(PercentDecode, DecodesEscapesInAnyCase) {
  EXPECT_EQ(percent_decode("a%20b"), "a b");
  EXPECT_EQ(percent_decode("%2f%2F"), "//");
  EXPECT_EQ(percent_decode("%ff"), std::string(1, '\xff'));
  EXPECT_EQ(percent_decode(""), "");
  EXPECT_EQ(percent_decode("plain+text"), "plain+text");
}

TEST(PercentDecode, RefusesBrokenEscapes) {
  for (const char* bad : {"%", "%2", "a%", "%g0", "%0g", "%%", "% 20", "%-1"})
    EXPECT_EQ(percent_decode(bad), std::nullopt) << bad;
}

TEST(PercentDecode, EveryByteRoundTrips) {
  for (int byte = 0; byte < 256; ++byte) {
    char text[4];
    std::snprintf(text, sizeof text, "%%%02X", byte);
    EXPECT_EQ(percent_decode(text), std::string(1, static_cast<char>(byte)));
  }
}

}  // namespace
}  // namespace cppapi
