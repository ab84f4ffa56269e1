/* The benchmark's baseline: the cheapest FastCGI responder there is, on
 * libfcgi, answering "Hello, world!\n" from THREADS threads. If the load
 * generator can keep this busy, it is not the bottleneck when it measures
 * wsgi-fpm or its peers.
 *
 *   fcgi-responder SOCKET_PATH [THREADS]     (default 1 thread)
 *
 * Request bodies are read and discarded. SIGTERM ends it (default action). */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd = -1;

static const char response[] =
    "Status: 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 14\r\n"
    "\r\n"
    "Hello, world!\n";

static void *serve(void *unused) {
  FCGX_Request request;
  char discard[8192];
  (void)unused;
  if (FCGX_InitRequest(&request, listen_fd, 0) != 0) return NULL;
  /* Linux wakes one accept() waiter per connection: no accept mutex needed. */
  while (FCGX_Accept_r(&request) >= 0) {
    while (FCGX_GetStr(discard, sizeof discard, request.in) > 0) {
    }
    FCGX_PutStr(response, sizeof response - 1, request.out);
    FCGX_Finish_r(&request);
  }
  return NULL;
}

int main(int argc, char **argv) {
  int threads = 1;
  pthread_t *ids;
  int i;
  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: %s SOCKET_PATH [THREADS]\n", argv[0]);
    return 2;
  }
  if (argc == 3) threads = atoi(argv[2]);
  if (threads < 1 || threads > 1024) {
    fprintf(stderr, "%s: THREADS must be 1 to 1024\n", argv[0]);
    return 2;
  }
  if (FCGX_Init() != 0) {
    fprintf(stderr, "%s: FCGX_Init failed\n", argv[0]);
    return 1;
  }
  /* FCGX_Init installs a SIGTERM handler that only sets a flag the blocked
   * accept() never sees: restore the default so SIGTERM stops us. */
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  unlink(argv[1]);
  listen_fd = FCGX_OpenSocket(argv[1], 1024);
  if (listen_fd < 0) {
    fprintf(stderr, "%s: cannot listen on %s\n", argv[0], argv[1]);
    return 1;
  }
  ids = calloc((size_t)threads, sizeof *ids);
  if (ids == NULL) return 1;
  for (i = 0; i < threads; ++i) {
    if (pthread_create(&ids[i], NULL, serve, NULL) != 0) {
      fprintf(stderr, "%s: pthread_create failed\n", argv[0]);
      return 1;
    }
  }
  for (i = 0; i < threads; ++i) pthread_join(ids[i], NULL);
  free(ids);
  return 0;
}
