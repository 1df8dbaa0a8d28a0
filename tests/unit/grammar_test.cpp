// SPDX-License-Identifier: MIT
#include "grammar.hpp"

#include <gtest/gtest.h>

TEST(Grammar, Placeholder) { EXPECT_TRUE(cppapi::is_valid_call_name("add")); }
