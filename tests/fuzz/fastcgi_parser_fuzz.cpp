// SPDX-License-Identifier: MIT
// The FastCGI record parser (fastcgi/protocol.cpp), two ways, chosen by the last byte:
// - any bytes, with fuzz-chosen limits, fed in fuzz-chosen pieces the way a connection
//   feeds it: it must give the same requests, replies and verdict as when fed the whole
//   input at once; every request's envp lies inside its params and ends with nullptr,
//   no kept body exceeds max_body_bytes, and the replies are whole records.
// - a valid request built from fuzz-chosen params, body, id, record sizes and padding by
//   this file's own encoder (not app/src's), fed in fuzz-chosen pieces: the parser must
//   yield exactly those params (less those that cannot be C strings) and that body.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "fastcgi/protocol.hpp"
#include "fuzz_support.hpp"

namespace {

using cppapi::fastcgi::IncomingRequest;
using cppapi::fastcgi::ParserLimits;
using cppapi::fastcgi::RequestParser;

// ---- an independent encoder (spec 1.0, section 3)

void put_header(std::string& out, int type, int id, std::size_t length, int padding) {
  const unsigned char header[8] = {1,
                                   static_cast<unsigned char>(type),
                                   static_cast<unsigned char>((id >> 8) & 0xff),
                                   static_cast<unsigned char>(id & 0xff),
                                   static_cast<unsigned char>((length >> 8) & 0xff),
                                   static_cast<unsigned char>(length & 0xff),
                                   static_cast<unsigned char>(padding),
                                   0};
  out.append(reinterpret_cast<const char*>(header), 8);
}

void put_record(std::string& out, int type, int id, std::string_view content, int padding) {
  put_header(out, type, id, content.size(), padding);
  out.append(content);
  out.append(static_cast<std::size_t>(padding), '\x5a');
}

void put_length(std::string& out, std::size_t length, bool long_form) {
  if (length < 128 && !long_form) {
    out.push_back(static_cast<char>(length));
    return;
  }
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(((length >> shift) & 0xff) | (shift == 24 ? 0x80 : 0)));
}

/// `content` as a stream of records of fuzz-chosen sizes (1..65535), then the empty record.
void put_stream(std::string& out, FuzzedDataProvider& fuzz, int type, int id, std::string_view content) {
  while (!content.empty()) {
    // 0 (also what an exhausted input gives) means the largest record: tiny records only when chosen.
    const std::size_t size = fuzz.ConsumeIntegral<std::uint16_t>();
    const std::size_t take = std::min(content.size(), size == 0 ? std::size_t{65535} : size);
    put_record(out, type, id, content.substr(0, take), fuzz.ConsumeIntegralInRange<int>(0, 7));
    content.remove_prefix(take);
  }
  put_record(out, type, id, {}, 0);
}

// ---- feeding the parser

struct Outcome {
  std::vector<IncomingRequest> requests;
  std::string replies;
  bool broken = false;
  bool closed = false;  // kClose: the connection would end here
  bool operator==(const Outcome& other) const {
    if (broken != other.broken || closed != other.closed || replies != other.replies ||
        requests.size() != other.requests.size())
      return false;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const IncomingRequest &a = requests[i], &b = other.requests[i];
      if (a.id != b.id || a.keep_connection != b.keep_connection || a.params != b.params || a.body != b.body ||
          a.body_bytes_seen != b.body_bytes_seen || a.declared_too_large != b.declared_too_large)
        return false;
    }
    return true;
  }
};

/// Feeds `bytes` in pieces whose sizes come from `sizes` (cycled; 0 means "the rest").
Outcome feed(std::string_view bytes, const std::vector<std::size_t>& sizes, ParserLimits limits) {
  Outcome outcome;
  RequestParser parser(limits);
  std::string buffer;
  std::size_t next = 0;
  while (!bytes.empty() && !outcome.broken && !outcome.closed) {
    std::size_t take = sizes.empty() ? bytes.size() : sizes[next++ % sizes.size()];
    if (take == 0 || take > bytes.size()) take = bytes.size();
    buffer.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    std::string_view input = buffer;
    RequestParser::Result result;
    while ((result = parser.consume(input, outcome.replies)) == RequestParser::Result::kRequestReady)
      outcome.requests.push_back(parser.take_request());
    outcome.broken = result == RequestParser::Result::kBroken;
    outcome.closed = result == RequestParser::Result::kClose;
    buffer.erase(0, buffer.size() - input.size());
  }
  return outcome;
}

void check_request(const IncomingRequest& request, const ParserLimits& limits) {
  FUZZ_CHECK(!request.envp.empty() && request.envp.back() == nullptr);
  const char* const begin = request.params.data();
  const char* const end = begin + request.params.size();
  for (std::size_t i = 0; i + 1 < request.envp.size(); ++i) {
    FUZZ_CHECK(request.envp[i] >= begin && request.envp[i] < end);
    FUZZ_CHECK(std::string_view(request.envp[i]).find('=') != std::string_view::npos);
  }
  FUZZ_CHECK(request.body.size() <= limits.max_body_bytes);
  FUZZ_CHECK(request.body.size() <= request.body_bytes_seen);
}

/// Replies must be whole records, each at most 65535 bytes of content.
void check_replies(std::string_view replies) {
  while (!replies.empty()) {
    FUZZ_CHECK(replies.size() >= 8 && replies[0] == 1);
    const std::size_t length =
        std::size_t{static_cast<unsigned char>(replies[4])} << 8 | static_cast<unsigned char>(replies[5]);
    const std::size_t padding = static_cast<unsigned char>(replies[6]);
    FUZZ_CHECK(replies.size() >= 8 + length + padding);
    replies.remove_prefix(8 + length + padding);
  }
}

std::vector<std::size_t> pick_sizes(FuzzedDataProvider& fuzz) {
  std::vector<std::size_t> sizes(fuzz.ConsumeIntegralInRange<std::size_t>(0, 16));
  for (std::size_t& size : sizes) size = fuzz.ConsumeIntegralInRange<std::size_t>(0, 2048);
  return sizes;
}

void fuzz_any_bytes(FuzzedDataProvider& fuzz) {
  ParserLimits limits;
  if (fuzz.ConsumeBool()) {
    limits.max_params_bytes = fuzz.ConsumeIntegralInRange<std::size_t>(0, 70000);
    limits.max_body_bytes = fuzz.ConsumeIntegralInRange<std::size_t>(0, 70000);
  }
  const std::vector<std::size_t> sizes = pick_sizes(fuzz);
  const std::string bytes = fuzz.ConsumeRemainingBytesAsString();
  const Outcome whole = feed(bytes, {}, limits);
  const Outcome pieces = feed(bytes, sizes, limits);
  FUZZ_CHECK(whole == pieces);
  for (const IncomingRequest& request : pieces.requests) check_request(request, limits);
  check_replies(pieces.replies);
}

// ---- the differential check

using Params = std::vector<std::pair<std::string, std::string>>;

Params pick_params(FuzzedDataProvider& fuzz) {
  Params params(fuzz.ConsumeIntegralInRange<std::size_t>(0, 12));
  for (auto& [name, value] : params) {
    name = fuzz.ConsumeRandomLengthString(40);
    if (name == "CONTENT_LENGTH") name = "CONTENT_LENGTH_";  // judged against the body limit: not this check
    // Short ones, and some past 127 bytes (4-byte lengths) without costing much.
    value = fuzz.ConsumeBool() ? fuzz.ConsumeRandomLengthString(200)
                               : std::string(fuzz.ConsumeIntegralInRange<std::size_t>(120, 700), 'v');
  }
  return params;
}

/// What the parser keeps of `params`: "NAME=value\0" for those that can be C strings.
std::string expected_params(const Params& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (name.empty() || name.find('=') != std::string::npos || name.find('\0') != std::string::npos ||
        value.find('\0') != std::string::npos)
      continue;
    out.append(name).append("=").append(value).push_back('\0');
  }
  return out;
}

void fuzz_valid_request(FuzzedDataProvider& fuzz) {
  const int id = fuzz.ConsumeIntegralInRange<int>(1, 65535);
  const bool keep = fuzz.ConsumeBool();
  const Params params = pick_params(fuzz);
  std::string pairs;
  for (const auto& [name, value] : params) {
    put_length(pairs, name.size(), fuzz.ConsumeBool());
    put_length(pairs, value.size(), fuzz.ConsumeBool());
    pairs.append(name).append(value);
  }
  const std::string body = fuzz.ConsumeRandomLengthString(8192);
  std::string bytes;
  if (fuzz.ConsumeBool()) put_record(bytes, 9, 0, {}, 0);  // an empty GET_VALUES first
  const char begin[8] = {0, 1, static_cast<char>(keep ? 1 : 0), 0, 0, 0, 0, 0};
  put_record(bytes, 1, id, std::string_view(begin, 8), fuzz.ConsumeIntegralInRange<int>(0, 7));
  put_stream(bytes, fuzz, 4, id, pairs);
  if (fuzz.ConsumeBool()) put_record(bytes, 5, id == 1 ? 2 : 1, "another id: ignored", 0);
  put_stream(bytes, fuzz, 5, id, body);
  const std::vector<std::size_t> sizes = pick_sizes(fuzz);
  const Outcome outcome = feed(bytes, sizes, ParserLimits{1 << 20, 1 << 20});
  FUZZ_CHECK(!outcome.broken && !outcome.closed);
  FUZZ_CHECK(outcome.requests.size() == 1);
  const IncomingRequest& request = outcome.requests[0];
  FUZZ_CHECK(request.id == id);
  FUZZ_CHECK(request.keep_connection == keep);
  FUZZ_CHECK(request.params == expected_params(params));
  FUZZ_CHECK(request.body == body);
  FUZZ_CHECK(!request.body_too_large());
  check_request(request, ParserLimits{1 << 20, 1 << 20});
  check_replies(outcome.replies);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider fuzz(data, size);
  if (fuzz.ConsumeBool())
    fuzz_valid_request(fuzz);
  else
    fuzz_any_bytes(fuzz);
  return 0;
}
