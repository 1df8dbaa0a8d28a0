// SPDX-License-Identifier: MIT
// Compiled twice by ctest: with an accepted parameter type it must build; with
// CPPAPI_BAD_SIGNATURE (a float parameter) it must stop at the CALL static_assert.
#include "cppapi/call.hpp"
#include "cppapi/detail/call_record.hpp"

#ifdef CPPAPI_BAD_SIGNATURE
CALL(float ratio) { return ratio * 2; }
#else
CALL(double ratio) { return ratio * 2; }
#endif

extern const cppapi::detail::CallRecord kRatioRecord;
const cppapi::detail::CallRecord kRatioRecord =
    cppapi::detail::make_record<&cppapi_handler>("ratio", cppapi_parameters);
