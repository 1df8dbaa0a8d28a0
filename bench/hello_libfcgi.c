// SPDX-License-Identifier: MIT
// Scenario B of `bench/bench.py load`: the bare libfcgi responder anyone would write by hand.
// N threads, each with its own FCGX_Request, all in FCGX_Accept_r on one socket
// (no accept mutex: libfcgi reads the request head inside Accept_r, see
// FASTCGI-NOTES.md section 1). Every request gets "hello\n" with an exact length.
//
//   hello_libfcgi /path/to.sock THREADS
//
// Build: cc -O2 -o hello_libfcgi hello_libfcgi.c -lfcgi -lpthread
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

// Same Content-Type as a cppAPI call returning a string, so every scenario sends
// the same number of bytes.
static const char kReply[] =
    "Status: 200 OK\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 6\r\n"
    "\r\n"
    "hello\n";

static int listen_fd;

// libfcgi turns SIGTERM into a flag that threads blocked in accept() never see
// (FASTCGI-NOTES.md section 1, Signals); the bench stops this process by PID, so
// SIGTERM and SIGINT end it at once. Installed before FCGX_Init, which keeps it.
static void quit(int sig) { _exit(128 + sig); }

static void* serve(void* unused) {
  (void)unused;
  FCGX_Request request;
  if (FCGX_InitRequest(&request, listen_fd, 0) != 0) return NULL;
  while (FCGX_Accept_r(&request) == 0) {
    // Drain a body if there is one: a leftover STDIN record breaks a kept connection.
    char sink[4096];
    while (FCGX_GetStr(sink, sizeof sink, request.in) > 0) {
    }
    FCGX_PutStr(kReply, (int)sizeof kReply - 1, request.out);
    FCGX_Finish_r(&request);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s /path/to.sock THREADS\n", argv[0]);
    return 2;
  }
  const int threads = atoi(argv[2]);
  if (threads < 1 || threads > 1024) {
    fprintf(stderr, "hello_libfcgi: bad thread count \"%s\"\n", argv[2]);
    return 2;
  }
  struct sigaction stop = {0};
  stop.sa_handler = quit;
  sigaction(SIGTERM, &stop, NULL);
  sigaction(SIGINT, &stop, NULL);

  if (FCGX_Init() != 0) return 1;
  listen_fd = FCGX_OpenSocket(argv[1], 1024);  // exits by itself on bind/listen failure
  if (listen_fd < 0) return 1;
  chmod(argv[1], 0666);  // let nginx's worker connect whatever user it runs as

  pthread_t* ids = calloc((size_t)threads, sizeof *ids);
  if (ids == NULL) return 1;
  for (int i = 0; i < threads; ++i) pthread_create(&ids[i], NULL, serve, NULL);
  fprintf(stderr, "hello_libfcgi: serving on %s with %d threads\n", argv[1], threads);
  for (int i = 0; i < threads; ++i) pthread_join(ids[i], NULL);
  return 0;
}
