// SPDX-License-Identifier: MIT
#include "dispatch/registry.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "dispatch/grammar.hpp"

namespace cppapi {
namespace {

bool by_name(const detail::CallRecord* a, const detail::CallRecord* b) {
  return std::string_view(a->name) < std::string_view(b->name);
}

}  // namespace

Registry::Registry(std::span<const detail::CallRecord* const> records) : sorted_(records.begin(), records.end()) {
  std::sort(sorted_.begin(), sorted_.end(), by_name);
  for (std::size_t i = 0; i < sorted_.size(); ++i) {
    if (!is_valid_call_name(sorted_[i]->name))
      throw std::invalid_argument(fmt::format("bad call name \"{}\"", sorted_[i]->name));
    if (i > 0 && std::string_view(sorted_[i]->name) == sorted_[i - 1]->name)
      throw std::invalid_argument(fmt::format("call \"{}\" registered twice", sorted_[i]->name));
  }
}

const detail::CallRecord* Registry::find(std::string_view name) const {
  const auto it =
      std::lower_bound(sorted_.begin(), sorted_.end(), name,
                       [](const detail::CallRecord* record, std::string_view key) { return record->name < key; });
  return it != sorted_.end() && (*it)->name == name ? *it : nullptr;
}

}  // namespace cppapi
