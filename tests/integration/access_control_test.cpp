// SPDX-License-Identifier: MIT
// Access control that spans cppapi and its front server (issue #10):
//  - a front server's `location` deny rule cannot be walked around with dot segments
//    (`/api/test/admin/purge&/../../x` looks like /api/test/x to nginx, lighttpd and Apache);
//  - cross-site requests (Sec-Fetch-Site, Origin) are refused unless --cross-site-guard false;
//  - an allow-list given but empty stops the start instead of allowing everyone.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fastcgi_client.hpp"
#include "harness.hpp"

namespace cppapi::test {
namespace {

/// A raw HTTP/1.1 exchange: the target goes on the wire exactly as written (curl would
/// remove dot segments itself), with `headers` ("Name: value") added.
HttpResponse raw_get(int port, const std::string& target, const std::vector<std::string>& headers = {}) {
  FcgiSocket socket = FcgiSocket::tcp(port);
  std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const std::string& header : headers) request += header + "\r\n";
  socket.send(request + "Connection: close\r\n\r\n");
  const std::string got = socket.read_all(10s);
  HttpResponse reply;
  const std::size_t split = got.find("\r\n\r\n");
  if (split != std::string::npos) reply.body = got.substr(split + 4);
  if (got.size() > 12) reply.status = std::atol(got.c_str() + 9);
  return reply;
}

// ---- dot segments past a deny rule

/// The call behind the deny rule, then ways around it: raw and percent-encoded dot
/// segments that a front server resolves to /api/test/x before it picks a location.
const std::vector<std::string> kWalkarounds = {
    "/api/test/admin/purge&/../../x",           "/api/test/admin/purge&/%2e%2e/%2e%2e/x",
    "/api/test/admin/purge&/%2E%2E/%2E%2E/x",   "/api/test/admin/purge&/.%2e/%2e./x",
    "/api/test/admin/purge&%2F..%2F..%2Fx",     "/api/test/admin/purge&x/./../../../x",
    "/api/test/admin/purge&a&/../../../test/x", "/api/test/admin/purge&/../../x?q=1",
};

/// The deny rule holds for the plain call and for every walk-around: the call never runs.
/// A walk-around that reaches cppapi gets its JSON 400 naming the dot segment.
void expect_deny_rule_holds(int port, const std::string& server_log) {
  EXPECT_EQ(raw_get(port, "/api/test/admin/purge").status, 403) << server_log;
  for (const std::string& target : kWalkarounds) {
    const HttpResponse reply = raw_get(port, target);
    EXPECT_EQ(reply.body.find("purged"), std::string::npos) << target << " ran the denied call";
    EXPECT_NE(reply.status, 200) << target;
    if (reply.status == 400 && !reply.body.empty() && reply.body.front() == '{') {
      EXPECT_NE(reply.body.find("dot segment"), std::string::npos) << target << ": " << reply.body;
    }
  }
  // Dots that are not segments still pass.
  const HttpResponse dots = raw_get(port, "/api/echo&..&a/..b&%2e");
  EXPECT_EQ(dots.status, 200) << dots.body;
  EXPECT_NE(dots.body.find(R"(["..","a/..b","."])"), std::string::npos) << dots.body;  // maybe chunked
}

TEST(DotSegments, NginxDenyRuleCannotBeWalkedAround) {
  TempDir dir;
  CppapiServer cppapi(dir);
  NginxServer nginx(dir, cppapi.socket(), nginx_config(R"(
    server {
        listen 127.0.0.1:@PORT@;
        location /api/test/admin/ { deny all; }
@API_LOCATION@
    }
)"));
  expect_deny_rule_holds(nginx.port(), nginx.error_log());
}

TEST(DotSegments, LighttpdDenyRuleCannotBeWalkedAround) {
  TempDir dir;
  CppapiServer cppapi(dir);
  const std::string api =
      deploy_file("lighttpd/cppapi-socket.conf", {{"/run/cppapi/cppapi.sock", cppapi.socket().string()}});
  LighttpdServer lighttpd(dir, api + "\n$HTTP[\"url\"] =^ \"/api/test/admin/\" { url.access-deny = ( \"\" ) }\n");
  expect_deny_rule_holds(lighttpd.port(), lighttpd.error_log());
}

TEST(DotSegments, ApacheDenyRuleCannotBeWalkedAround) {
  TempDir dir;
  CppapiServer::Options options;
  options.extra_args = {"--socket-mode", "0666"};  // Apache's children run as www-data (see ApacheServer)
  CppapiServer cppapi(dir, options);
  ApacheServer::Options apache_options;
  apache_options.modules = {"proxy", "proxy_fcgi"};
  apache_options.config =
      deploy_file("apache/cppapi-proxy-fcgi.conf",
                  {{"proxy:unix:/run/cppapi/cppapi.sock|", "proxy:unix:" + cppapi.socket().string() + "|"}}) +
      "\n<Location \"/api/test/admin/\">\n    Require all denied\n</Location>\n";
  ApacheServer apache(dir, apache_options);
  expect_deny_rule_holds(apache.port(), apache.error_log());
}

// ---- cross-site requests

std::string origin(const NginxServer& nginx) { return "Origin: http://127.0.0.1:" + std::to_string(nginx.port()); }

TEST(CrossSite, RefusedThroughNginxUnlessSameOriginOrHeaderless) {
  TempDir dir;
  CppapiServer cppapi(dir);
  NginxServer nginx(dir, cppapi.socket());
  const int port = nginx.port();
  for (const std::vector<std::string>& headers : std::vector<std::vector<std::string>>{
           {"Sec-Fetch-Site: cross-site"},  // <img src="http://.../api/...">: no Origin at all
           {"Sec-Fetch-Site: cross-site", "Origin: https://evil.example"},
           {"Sec-Fetch-Site: same-site", "Origin: http://other.127.0.0.1"},
           {"Origin: https://evil.example"},  // a browser without Sec-Fetch-*
           {"Origin: null"}}) {
    const HttpResponse reply = raw_get(port, "/api/add&2&3", headers);
    EXPECT_EQ(reply.status, 403) << headers.back() << ": " << reply.body;
    const auto body = nlohmann::json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << reply.status << " " << reply.body;
    EXPECT_EQ(body.value("status", 0), 403);
    EXPECT_NE(body.value("error", "").find("cross-site"), std::string::npos) << reply.body;
  }
  for (const std::vector<std::string>& headers :
       std::vector<std::vector<std::string>>{{},  // curl, a server
                                             {"Sec-Fetch-Site: same-origin", origin(nginx)},
                                             {"Sec-Fetch-Site: none"},  // typed into the address bar
                                             {origin(nginx)}}) {
    const HttpResponse reply = raw_get(port, "/api/add&2&3", headers);
    EXPECT_EQ(reply.status, 200) << (headers.empty() ? "no headers" : headers.back()) << ": " << reply.body;
    EXPECT_EQ(reply.body, "5");
  }
}

TEST(CrossSite, GuardCanBeTurnedOffAndCorsOriginsPass) {
  TempDir dir;
  CppapiServer::Options options;
  options.extra_args = {"--cross-site-guard", "false"};
  CppapiServer off(dir, options);
  NginxServer nginx(dir, off.socket());
  EXPECT_EQ(raw_get(nginx.port(), "/api/add&2&3", {"Sec-Fetch-Site: cross-site"}).body, "5");

  TempDir other;
  options.extra_args = {"--cors-origin", "https://app.example"};
  CppapiServer cors(other, options);
  NginxServer nginx_cors(other, cors.socket());
  EXPECT_EQ(
      raw_get(nginx_cors.port(), "/api/add&2&3", {"Sec-Fetch-Site: cross-site", "Origin: https://app.example"}).body,
      "5");
  EXPECT_EQ(
      raw_get(nginx_cors.port(), "/api/add&2&3", {"Sec-Fetch-Site: cross-site", "Origin: https://evil.example"}).status,
      403);
}

// ---- an allow-list given but empty

/// `cppapi serve` on TCP with `args` and `env`; it must exit 1 at once. Returns its log.
std::string refused_start(const TempDir& dir, std::vector<std::string> args, std::vector<std::string> env = {}) {
  std::vector<std::string> argv{cppapi_binary(), "serve", "--listen", "127.0.0.1:" + std::to_string(free_port())};
  if (::geteuid() == 0) argv.insert(argv.end(), {"--user", "root"});
  argv.insert(argv.end(), args.begin(), args.end());
  Process process(argv, dir / "refused.log", {std::move(env), dir.path()});
  EXPECT_EQ(process.wait_exit(10s), (ExitStatus{1, 0})) << process.log();
  return process.log();
}

TEST(EmptyAllowList, StopsTheStart) {
  TempDir dir;
  EXPECT_NE(refused_start(dir, {"--allow-from", ""}).find("allow_from: an empty list"), std::string::npos);
  TempDir blanks;
  EXPECT_NE(refused_start(blanks, {"--allow-from", " , "}).find("allow_from: an empty list"), std::string::npos);
  TempDir variable;
  EXPECT_NE(refused_start(variable, {}, {"FCGI_WEB_SERVER_ADDRS=,"}).find("FCGI_WEB_SERVER_ADDRS: an empty list"),
            std::string::npos);
  TempDir file;
  write_file(file / "cppapi.toml", "allow_from = \"\"\n");
  EXPECT_NE(refused_start(file, {"--config", (file / "cppapi.toml").string()}).find("allow_from: an empty list"),
            std::string::npos);
}

}  // namespace
}  // namespace cppapi::test
