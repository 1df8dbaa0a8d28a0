// SPDX-License-Identifier: MIT
// The harness checked on its own, without cppapi: processes, temp dirs, templates, and nginx
// serving a static file and complaining about a missing backend.
#include <signal.h>
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.hpp"

namespace cppapi::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

TEST(Harness, TempDirIsRemovedAfterAPassingTest) {
  fs::path path;
  {
    TempDir dir;
    path = dir.path();
    EXPECT_TRUE(fs::is_directory(path));
    write_file(dir / "file", "x");
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(Harness, FreePortHasNoListener) {
  const int port = free_port();
  EXPECT_GT(port, 0);
  EXPECT_FALSE(can_connect_tcp(port));
}

TEST(Harness, ProcessReportsExitCodeLogAndEnvironment) {
  TempDir dir;
  Process sh({"/bin/sh", "-c", "echo \"$GREETING\"; pwd; exit 3"}, dir / "sh.log", {{"GREETING=hi"}, dir.path()});
  EXPECT_EQ(sh.wait_exit(10s), (ExitStatus{3, 0}));
  EXPECT_EQ(sh.log(), "hi\n" + dir.path().string() + "\n");
  EXPECT_FALSE(sh.running());
}

TEST(Harness, StopTerminatesThenKills) {
  TempDir dir;
  Process polite({"/bin/sleep", "30"}, dir / "polite.log");
  EXPECT_EQ(polite.stop(), (ExitStatus{-1, SIGTERM}));

  Process stubborn({"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"}, dir / "stubborn.log");
  ASSERT_TRUE(wait_until([&] { return stubborn.log() == "ready\n"; }));
  EXPECT_EQ(stubborn.stop(200ms), (ExitStatus{-1, SIGKILL}));
}

TEST(Harness, ProcessThatCannotStartThrows) {
  TempDir dir;
  EXPECT_THROW(Process({"/nonexistent/binary"}, dir / "x.log"), std::system_error);
}

TEST(Harness, RenderFillsPlaceholdersAndRefusesMissingOnes) {
  EXPECT_EQ(render("listen @PORT@; # @PORT@ a@b", {{"PORT", "80"}}), "listen 80; # 80 a@b");
  EXPECT_THROW(render("root @WWW@;", {{"PORT", "80"}}), std::invalid_argument);
}

TEST(Harness, NginxComplaintsPickTheContractBreakers) {
  const std::string log =
      "2025/01/01 [info] 1#1: *1 client closed connection\n"
      "2025/01/01 [warn] 1#1: *2 upstream sent more data than specified in \"Content-Length\" header\n"
      "2025/01/01 [error] 1#1: *3 upstream prematurely closed connection while reading upstream\n"
      "2025/01/01 [alert] 1#1: worker process 7 exited on signal 11\n";
  EXPECT_THAT(nginx_complaints(log), SizeIs(3));
  EXPECT_THAT(nginx_complaints("2025/01/01 [notice] 1#1: signal process started\n"), IsEmpty());
}

TEST(Harness, HttpGetsStatusHeadersAndExactBody) {
  TempDir dir;
  const std::string kTemplate = R"(@USER@
daemon off;
master_process on;
worker_processes 1;
error_log @PREFIX@/error.log info;
pid @PREFIX@/nginx.pid;
events { worker_connections 16; }
http {
    access_log off;
    client_body_temp_path @PREFIX@/client_body_temp;
    fastcgi_temp_path @PREFIX@/fastcgi_temp;
    proxy_temp_path @PREFIX@/proxy_temp;
    uwsgi_temp_path @PREFIX@/uwsgi_temp;
    scgi_temp_path @PREFIX@/scgi_temp;
    server {
        listen 127.0.0.1:@PORT@;
        location = /static.txt { root @PREFIX@/..; default_type text/plain; }
@API_LOCATION@
    }
}
)";
  write_file(dir / "static.txt", "grüße\n");
  NginxServer nginx(dir, dir / "no-backend.sock", kTemplate);

  const auto get = http("GET", nginx.url("/static.txt"));
  EXPECT_EQ(get.curl_code, CURLE_OK) << get;
  EXPECT_EQ(get.status, 200) << get;
  EXPECT_EQ(get.header("content-type"), "text/plain") << get;
  EXPECT_EQ(get.body, "grüße\n");
  EXPECT_EQ(get.content_length, 8u) << get;

  const auto head = http("HEAD", nginx.url("/static.txt"));
  EXPECT_EQ(head.status, 200) << head;
  EXPECT_EQ(head.content_length, 8u) << head;
  EXPECT_EQ(head.body, "");

  // The shipped /api/ location is live: with no backend nginx answers 502 and logs a [crit]
  // line, which the complaint scan must catch.
  const auto api = http("GET", nginx.url("/api/add&2&3"));
  EXPECT_EQ(api.status, 502) << api;
  nginx.stop();
  EXPECT_THAT(nginx_complaints(nginx.error_log()), ElementsAre(HasSubstr("no-backend.sock")));
}

}  // namespace
}  // namespace cppapi::test
