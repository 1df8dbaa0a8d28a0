// SPDX-License-Identifier: MIT
#include <climits>
#include <optional>

#include <gtest/gtest.h>

#include "cppapi/detail/convert.hpp"

namespace cppapi::detail {
namespace {

template <class T>
std::string refusal(std::string_view text, std::size_t position = 1) {
  try {
    convert_argument<T>(text, position);
  } catch (const HttpError& error) {
    EXPECT_EQ(error.status(), 400);
    return error.what();
  }
  return "accepted";
}

TEST(Convert, Integers) {
  EXPECT_EQ(convert_argument<long>("42", 1), 42);
  EXPECT_EQ(convert_argument<long>("-7", 1), -7);
  EXPECT_EQ(convert_argument<int>("2147483647", 1), INT_MAX);
  EXPECT_EQ(convert_argument<long>("9223372036854775807", 1), LONG_MAX);
  EXPECT_EQ(convert_argument<unsigned>("4294967295", 1), 4294967295u);
}

TEST(Convert, IntegerRefusalsNamePositionTypeAndValue) {
  EXPECT_EQ(refusal<long>("abc", 2), "argument 2: expected integer, got \"abc\"");
  EXPECT_EQ(refusal<int>("2147483648"), "argument 1: out of range for integer, got \"2147483648\"");
  EXPECT_EQ(refusal<long>("99999999999999999999"),
            "argument 1: out of range for integer, got \"99999999999999999999\"");
  EXPECT_EQ(refusal<long>("12abc"), "argument 1: expected integer, got \"12abc\"");  // trailing junk
  EXPECT_EQ(refusal<int>("99999999999abc"), "argument 1: expected integer, got \"99999999999abc\"");
  EXPECT_EQ(refusal<long>(""), "argument 1: expected integer, got \"\"");
  EXPECT_EQ(refusal<long>(" 1"), "argument 1: expected integer, got \" 1\"");
  EXPECT_EQ(refusal<long>("+1"), "argument 1: expected integer, got \"+1\"");
  EXPECT_EQ(refusal<long>("1.0"), "argument 1: expected integer, got \"1.0\"");
  EXPECT_EQ(refusal<long>("0x10"), "argument 1: expected integer, got \"0x10\"");
  EXPECT_EQ(refusal<unsigned>("-1"), "argument 1: expected non-negative integer, got \"-1\"");
}

TEST(Convert, Doubles) {
  EXPECT_DOUBLE_EQ(convert_argument<double>("2.5", 1), 2.5);
  EXPECT_DOUBLE_EQ(convert_argument<double>("-1e3", 1), -1000.0);
  EXPECT_DOUBLE_EQ(convert_argument<double>("7", 1), 7.0);
  EXPECT_EQ(refusal<double>("nan"), "argument 1: expected finite number, got \"nan\"");
  EXPECT_EQ(refusal<double>("inf"), "argument 1: expected finite number, got \"inf\"");
  EXPECT_EQ(refusal<double>("1e999"), "argument 1: out of range for number, got \"1e999\"");
  EXPECT_EQ(refusal<double>("2.5x"), "argument 1: expected number, got \"2.5x\"");
}

TEST(Convert, Booleans) {
  EXPECT_TRUE(convert_argument<bool>("true", 1));
  EXPECT_TRUE(convert_argument<bool>("1", 1));
  EXPECT_FALSE(convert_argument<bool>("false", 1));
  EXPECT_FALSE(convert_argument<bool>("0", 1));
  EXPECT_EQ(refusal<bool>("yes"), "argument 1: expected boolean (true, false, 1 or 0), got \"yes\"");
  EXPECT_EQ(refusal<bool>("TRUE"), "argument 1: expected boolean (true, false, 1 or 0), got \"TRUE\"");
}

TEST(Convert, StringsTakeAnything) {
  EXPECT_EQ(convert_argument<std::string>("a&b \xff", 1), "a&b \xff");
  EXPECT_EQ(convert_argument<std::string_view>("", 1), "");
}

TEST(Convert, LongValuesAreShortenedInMessages) {
  const std::string message = refusal<long>(std::string(10000, '9') + "x");
  EXPECT_LT(message.size(), 200u);
  EXPECT_NE(message.find("(10001 bytes)"), std::string::npos);
}

}  // namespace
}  // namespace cppapi::detail
