// SPDX-License-Identifier: MIT
// call.hpp in two translation units of one program: each CALL stays private to its file.
#include "cppapi/call.hpp"
#include "cppapi/detail/call_record.hpp"

CALL(long a) { return a + 1; }

extern const cppapi::detail::CallRecord kFirstRecord;
const cppapi::detail::CallRecord kFirstRecord =
    cppapi::detail::make_record<&cppapi_handler>("first", cppapi_parameters);
