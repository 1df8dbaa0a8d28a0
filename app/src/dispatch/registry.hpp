// SPDX-License-Identifier: MIT
#pragma once
#include <span>
#include <string_view>
#include <vector>

#include "cppapi/detail/call_record.hpp"

namespace cppapi {

/// The calls this binary serves, looked up by name.
class Registry {
 public:
  /// Throws std::invalid_argument for a duplicate or ill-formed name.
  explicit Registry(std::span<const detail::CallRecord* const> records);

  /// nullptr when no call has that name.
  const detail::CallRecord* find(std::string_view name) const;
  /// Every call, sorted by name.
  const std::vector<const detail::CallRecord*>& all() const { return sorted_; }

 private:
  std::vector<const detail::CallRecord*> sorted_;
};

/// The table the build generated from calls/ (defined in the generated index).
std::span<const detail::CallRecord* const> generated_call_table();

}  // namespace cppapi
