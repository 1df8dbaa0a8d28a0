// SPDX-License-Identifier: MIT
// GET /api/notes/get&1 -> {"id":1,"text":"..."}; an unknown id is a 404.
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "cppapi/call.hpp"

namespace {
const std::map<int, std::string> kNotes = {
    {1, "cppAPI calls C++ from the browser."},
    {2, "Each file in calls/ is one call."},
    {3, "Errors are JSON with the right status."},
};
}  // namespace

/// The note with this id as JSON {"id", "text"}; an unknown id is a 404.
CALL(int id) {
  const auto note = kNotes.find(id);
  if (note == kNotes.end()) throw cppapi::HttpError{404, "no such note"};
  return nlohmann::json{{"id", id}, {"text", note->second}};
}
