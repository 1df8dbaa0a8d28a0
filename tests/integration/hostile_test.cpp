// SPDX-License-Identifier: MIT
// The hostile corpus (hostile/requests.txt) through nginx and straight over FastCGI,
// cases only raw FastCGI can carry, and malformed FastCGI that must cost only its
// own connection.
#include <netinet/in.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fastcgi_client.hpp"
#include "harness.hpp"

namespace cppapi::test {
namespace {

struct Case {
  int status;
  std::string method, target;
  int nginx_status;  // what nginx answers, when it differs (nginx decided itself)
  bool nginx_own;
  int line;
};

std::vector<Case> corpus() {
  std::ifstream in(source_dir() / "tests/integration/hostile/requests.txt");
  std::vector<Case> cases;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Case c{};
    std::string extra;
    fields >> c.status >> c.method >> c.target >> extra;
    c.nginx_status = c.status;
    if (extra.rfind("nginx=", 0) == 0) {
      c.nginx_status = std::stoi(extra.substr(6));
      c.nginx_own = true;
    }
    c.line = number;
    cases.push_back(c);
  }
  return cases;
}

bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

/// An error body must be JSON in valid UTF-8 naming the same status.
void expect_json_error(std::string_view body, int status, const std::string& where) {
  EXPECT_TRUE(valid_utf8(body)) << where;
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << where << ": not JSON: " << body.substr(0, 200);
  EXPECT_EQ(parsed.value("status", 0), status) << where;
  EXPECT_TRUE(parsed.contains("error")) << where;
}

/// A raw HTTP/1.1 exchange: the target goes on the wire exactly as written.
struct RawHttp {
  int status = 0;
  std::string head, body;
};
RawHttp raw_http(int port, const std::string& method, const std::string& target) {
  FcgiSocket socket = FcgiSocket::tcp(port);
  socket.send(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  const std::string got = socket.read_all(10s);
  RawHttp reply;
  const std::size_t split = got.find("\r\n\r\n");
  reply.head = got.substr(0, split);
  if (split != std::string::npos) reply.body = got.substr(split + 4);
  if (got.size() > 12) reply.status = std::atoi(got.c_str() + 9);
  return reply;
}

class Hostile : public testing::Test {
 protected:
  // A start failure must fail every test: a throw here would make GoogleTest skip them all.
  static void SetUpTestSuite() {
    try {
      dir_ = new TempDir;
      cppapi_ = new CppapiServer(*dir_, [] {
        CppapiServer::Options options;
        options.threads = 2;
        options.extra_args = {"--read-timeout", "1", "--max-body-bytes", "64k"};
        return options;
      }());
      pid_ = cppapi_->process().pid();
      start_time_ = process_start_time(pid_);
      nginx_ = new NginxServer(*dir_, cppapi_->socket());
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }
  // cppapi must exit 0 after SIGTERM with no sanitizer report or crash line in its log.
  static void TearDownTestSuite() {
    delete nginx_;
    if (cppapi_) cppapi_->stop_and_check();
    delete cppapi_;
    delete dir_;
    nginx_ = nullptr;
    cppapi_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(cppapi_ && nginx_) << "servers did not start: " << start_error_; }
  void TearDown() override {
    if (!cppapi_) return;
    EXPECT_THAT(crash_lines(cppapi_->log()), testing::IsEmpty());
    if (HasFailure())
      std::cerr << "--- cppapi log (end):\n"
                << cppapi_->log().substr(cppapi_->log().size() > 3000 ? cppapi_->log().size() - 3000 : 0);
  }
  /// The cppapi started for the suite still runs: same PID, same start time (not a PID reused
  /// by a restart), not a zombie.
  static void expect_same_process(const std::string& where = {}) {
    EXPECT_TRUE(same_process_alive(pid_, start_time_))
        << where << ": cppapi (pid " << pid_ << ", start time " << start_time_ << ") is gone or replaced";
  }
  static FcgiReply direct(const fcgi::Params& params, std::string_view body = {}) {
    return fcgi_exchange(FcgiSocket::unix_socket(cppapi_->socket()), fcgi::request(params, body));
  }
  static void expect_still_serving() {
    const FcgiReply reply = direct(fcgi::params_for("GET", "/api/add&2&3"));
    EXPECT_EQ(reply.status, 200) << reply.head;
    EXPECT_EQ(reply.body, "5");
  }
  static inline TempDir* dir_ = nullptr;
  static inline CppapiServer* cppapi_ = nullptr;
  static inline NginxServer* nginx_ = nullptr;
  static inline pid_t pid_ = 0;
  static inline std::string start_time_;
  static inline std::string start_error_;
};

TEST_F(Hostile, CorpusHasEnoughCases) { EXPECT_GE(corpus().size(), 200u); }

TEST_F(Hostile, CorpusStraightOverFastcgi) {
  for (const Case& c : corpus()) {
    const std::string where = "requests.txt:" + std::to_string(c.line) + " " + c.method + " " + c.target.substr(0, 80);
    const FcgiReply reply = direct(fcgi::params_for(c.method, c.target));
    EXPECT_TRUE(reply.ended && reply.well_formed) << where;
    EXPECT_EQ(reply.status, c.status) << where << "\n" << reply.head << "\n" << reply.body.substr(0, 200);
    EXPECT_TRUE(valid_utf8(reply.body) || c.status < 400) << where;
    if (c.status >= 400 && c.method != "HEAD") expect_json_error(reply.body, c.status, where);
  }
  expect_still_serving();
  expect_same_process("after the corpus");
}

TEST_F(Hostile, CorpusThroughNginx) {
  for (const Case& c : corpus()) {
    const std::string where = "requests.txt:" + std::to_string(c.line) + " " + c.method + " " + c.target.substr(0, 80);
    const RawHttp reply = raw_http(nginx_->port(), c.method, c.target);
    if (std::getenv("CPPAPI_HOSTILE_RECORD"))  // prints what nginx does, to fill in nginx=STATUS
      std::cout << "RECORD " << c.line << ' ' << reply.status << ' '
                << (reply.head.find("application/json") != std::string::npos ? "json" : "own") << '\n';
    EXPECT_EQ(reply.status, c.nginx_status) << where << "\n" << reply.head << "\n" << reply.body.substr(0, 200);
    if (!c.nginx_own && c.status >= 400 && c.method != "HEAD") expect_json_error(reply.body, c.status, where);
  }
  expect_still_serving();
  EXPECT_TRUE(nginx_complaints(nginx_->error_log()).empty()) << nginx_->error_log();
}

TEST_F(Hostile, OnlyOverRawFastcgi) {
  fcgi::Params params = fcgi::params_for("GET", "/api/add&2&3");
  // missing REQUEST_URI
  fcgi::Params no_uri;
  for (const auto& p : params)
    if (p.first != "REQUEST_URI") no_uri.push_back(p);
  FcgiReply reply = direct(no_uri);
  EXPECT_EQ(reply.status, 400) << reply.head;
  expect_json_error(reply.body, 400, "missing REQUEST_URI");
  // missing REQUEST_METHOD: 405 (an empty method is not an allowed one)
  fcgi::Params no_method;
  for (const auto& p : params)
    if (p.first != "REQUEST_METHOD") no_method.push_back(p);
  reply = direct(no_method);
  EXPECT_EQ(reply.status, 405) << reply.head;
  expect_json_error(reply.body, 405, "missing REQUEST_METHOD");
  // lying CONTENT_LENGTH: the end of STDIN is what counts; the handler sees the bytes that came
  reply = direct(fcgi::params_for("POST", "/api/echo", 1000), "abc");
  EXPECT_EQ(reply.status, 200) << reply.head;
  reply = direct(fcgi::params_for("POST", "/api/echo", 1), "abcdef");
  EXPECT_EQ(reply.status, 200) << reply.head;
  // a body over max_body_bytes (64k here), with an honest or a lying CONTENT_LENGTH
  const std::string big(100 * 1024, 'x');
  reply = direct(fcgi::params_for("POST", "/api/echo", big.size()), big);
  EXPECT_EQ(reply.status, 413) << reply.head;
  expect_json_error(reply.body, 413, "body too large");
  reply = direct(fcgi::params_for("POST", "/api/echo", 10), big);
  EXPECT_EQ(reply.status, 413) << reply.head;
  // Raw NUL and control bytes in REQUEST_URI: always 400 (README, "The call grammar"), and the
  // handler never runs; percent-encoded, the same bytes reach the handler exactly.
  const auto ran = [] { return grep_lines(cppapi_->log(), {"GET test/inspect 200"}).size(); };
  const std::size_t ran_before = ran();
  // A NUL cannot even be a FastCGI parameter value here: the parameter is dropped
  // (FastcgiParser.DropsParamsThatCannotBeCStrings), so the request has no REQUEST_URI.
  // engine = "libfcgi" hands out C strings: the value ends at the NUL and the call runs
  // with what came before it (no front server sends a raw NUL; docs/engine.md).
  const bool libfcgi = expected_engine() == "libfcgi";
  reply = direct(fcgi::params_for("GET", std::string("/api/test/inspect&2&3") + '\0' + "evil"));
  if (libfcgi) {
    EXPECT_EQ(reply.status, 200) << reply.head;
    EXPECT_EQ(nlohmann::json::parse(reply.body, nullptr, false)["args"], nlohmann::json::array({"2", "3"}))
        << reply.body;
  } else {
    EXPECT_EQ(reply.status, 400) << reply.head;
    expect_json_error(reply.body, 400, "NUL in REQUEST_URI");
    EXPECT_NE(reply.body.find("missing REQUEST_URI"), std::string::npos) << reply.body;
  }
  for (const std::string& uri :
       {std::string("/api/test/inspect&a\r\nb"), std::string("/api/test/inspect&\x01\x02\x7f"),
        std::string("/api/test/inspect&3\r\nStatus: 200"), std::string("/api/test/inspect&a?q=\x1b")}) {
    reply = direct(fcgi::params_for("GET", uri));
    EXPECT_TRUE(reply.ended && reply.well_formed) << uri;
    EXPECT_EQ(reply.status, 400) << testing::PrintToString(uri) << "\n" << reply.head << reply.body;
    expect_json_error(reply.body, 400, testing::PrintToString(uri));
    EXPECT_NE(reply.body.find("control byte"), std::string::npos) << reply.body;
  }
  EXPECT_EQ(ran(), ran_before + (libfcgi ? 1 : 0)) << "a handler ran on a raw control byte";
  reply = direct(fcgi::params_for("GET", "/api/test/inspect&a%0D%0Ab&%01%02%7F&%09"));
  EXPECT_EQ(reply.status, 200) << reply.head;
  const auto seen = nlohmann::json::parse(reply.body, nullptr, false);
  EXPECT_EQ(seen["args"], nlohmann::json::array({"a\r\nb", "\x01\x02\x7f", "\t"})) << reply.body;
  fcgi::Params odd = fcgi::params_for("GET", "/api/add&2&3");
  odd.push_back({std::string("HTTP_X\0Y", 8), "v"});
  odd.push_back({"HTTP_ORIGIN", std::string("a\0b", 3)});
  odd.push_back({"", "empty name"});
  odd.push_back({"A=B", "equals in name"});
  odd.push_back({"HTTP_USER_AGENT", "\r\n\x01\xff"});
  reply = direct(odd);
  if (libfcgi) {  // Origin "a\0b" arrives as "a": another site's page, refused
    EXPECT_EQ(reply.status, 403) << reply.head;
  } else {
    EXPECT_EQ(reply.status, 200) << reply.head;
    EXPECT_EQ(reply.body, "5");
  }
  expect_still_serving();
}

/// Sends `bytes` on a fresh connection; true if cppapi closed it within `timeout`.
bool dropped(const fs::path& socket, std::string_view bytes, std::chrono::milliseconds timeout = 5s) {
  const FcgiSocket connection = FcgiSocket::unix_socket(socket);
  connection.send(bytes);
  bool eof = false;
  connection.read_all(timeout, &eof);
  return eof;
}

TEST_F(Hostile, MalformedFastcgiCostsOnlyItsConnection) {
  const fs::path socket = cppapi_->socket();
  // A normal request on another connection, begun before and finished after each attack.
  const auto begin_other = [&] {
    FcgiSocket other = FcgiSocket::unix_socket(socket);
    std::string bytes = fcgi::request(fcgi::params_for("GET", "/api/add&2&3"));
    other.send(bytes.substr(0, 20));
    return std::make_pair(std::move(other), bytes.substr(20));
  };
  const std::string cve = fcgi::cve_2025_23016_request();
  const std::vector<std::pair<std::string, std::string>> attacks = {
      {"version 2", fcgi::raw_record(2, fcgi::kBegin, 1, 8, 0, std::string("\0\1\0\0\0\0\0\0", 8))},
      {"version 0", fcgi::raw_record(0, fcgi::kParams, 1, 0, 0, "")},
      {"BEGIN of the wrong size", fcgi::raw_record(1, fcgi::kBegin, 1, 3, 0, "abc")},
      {"CVE-2025-23016 lengths", cve},
      {"PARAMS past max_params_bytes", fcgi::begin(1) +
                                           [] {
                                             std::string out;
                                             for (int i = 0; i < 3; ++i)
                                               out += fcgi::record(fcgi::kParams, 1, std::string(65535, 'p'));
                                             return out;
                                           }()},
      {"malformed pairs", fcgi::begin(1) +
                              fcgi::record(fcgi::kParams, 1,
                                           "\x05\x7f"
                                           "abc") +
                              fcgi::record(fcgi::kParams, 1, {})},
      {"STDIN before PARAMS end", fcgi::begin(1) + fcgi::record(fcgi::kStdin, 1, "x")},
      {"BEGIN twice", fcgi::begin(1) + fcgi::begin(1)},
      {"truncated record then close", fcgi::begin(1) + fcgi::raw_record(1, fcgi::kParams, 1, 65535, 255, "only a bit")},
      {"absurd length, truncated", fcgi::begin(1) + fcgi::raw_record(1, fcgi::kStdin, 1, 65535, 255, "")},
      {"garbage", std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
  };
  for (const auto& [name, bytes] : attacks) {
    // engine = "libfcgi": Debian's libfcgi aborts the process on it; the master replaces the
    // worker (LibfcgiEngine.CvePatternAbortsTheWorkerAndTheMasterReplacesIt). Here, without one, nothing would.
    if (expected_engine() == "libfcgi" && name.starts_with("CVE")) continue;
    // libfcgi waits for more on these (a PARAMS stream without its end; a STDIN record or a
    // second BEGIN read as the end of an empty PARAMS, then a 400 for want of STDIN) until read_timeout.
    const bool waits_under_libfcgi =
        name.starts_with("PARAMS past") || name.starts_with("STDIN before") || name.starts_with("BEGIN twice");
    const bool closes_at_once =
        name.find("truncated") == std::string::npos && !(expected_engine() == "libfcgi" && waits_under_libfcgi);
    // A connection stalled mid-request longer than read_timeout is closed too: for the
    // slow cases the concurrent request starts after the attack.
    auto [other, rest] = closes_at_once ? begin_other() : std::make_pair(FcgiSocket(), std::string());
    if (closes_at_once) {
      EXPECT_TRUE(dropped(socket, bytes)) << name;
    } else {  // waits for the rest of the record: read_timeout (1 s) closes it
      EXPECT_TRUE(dropped(socket, bytes, 4s)) << name;
      std::tie(other, rest) = begin_other();
    }
    other.send(rest);
    const FcgiReply reply = parse_reply(other.read_all(10s));
    EXPECT_EQ(reply.body, "5") << name;
    expect_same_process(name);
  }
  // A BEGIN_REQUEST, then silence: closed after read_timeout.
  {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(dropped(socket, fcgi::begin(1), 5s));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 900ms);
  }
  expect_still_serving();
  expect_same_process("after the attacks");
}

}  // namespace
}  // namespace cppapi::test
