// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include "cppapi/call.hpp"
#include "cppapi/detail/call_record.hpp"

#include "dispatch/request_access.hpp"

CALL(const cppapi::Args& args) { return static_cast<long>(args.size()); }

extern const cppapi::detail::CallRecord kFirstRecord;

TEST(CallHeader, TwoTranslationUnitsKeepTheirOwnHandlers) {
  const char* const env[] = {nullptr};
  const cppapi::Request request = cppapi::detail::RequestAccess::make(env, "");
  EXPECT_EQ(kFirstRecord.invoke(request, {"41"}).body, "42");
  EXPECT_STREQ(kFirstRecord.parameters, "long a");
  const auto second = cppapi::detail::make_record<&cppapi_handler>("second", cppapi_parameters);
  EXPECT_EQ(second.invoke(request, {"x", "y"}).body, "2");
}
