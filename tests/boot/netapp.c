/* The app of tests/boot/net.sh, run inside a real EIF under QEMU: it uses the network
 * the way an enclave's app does, through the supervisor's services only.
 *
 *   netapp [--attest PORT NONCE-B64] [--fetch URL]... [--serve PORT]
 *
 * --fetch URL   GET URL (http://) through the proxy the supervisor put in $http_proxy
 *               and print "fetch URL: STATUS-LINE" and "fetch body: FIRST-LINE"
 * --attest PORT NONCE-B64
 *               POST {"nonce": NONCE-B64} to the attestation API on 127.0.0.1:PORT
 *               (?encoding=base64) and print "attest: STATUS-LINE", then the document
 *               as "attest doc: " lines of at most 1000 base64 characters
 * --serve PORT  answer HTTP requests on 127.0.0.1:PORT (the ingress port) with "hello
 *               from inside the enclave" until SIGTERM, then exit 0
 * Static, libc only: the enclave's rootfs has nothing else. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_term (int s)
{
  stop = s;
}

static int
proxy_connect (void)
{
  const char *p = getenv ("http_proxy");
  char host[64];
  unsigned port;
  struct sockaddr_in a;
  int fd;
  if (p == NULL || sscanf (p, "http://%63[0-9.]:%u", host, &port) != 2)
    {
      printf ("fetch: no usable http_proxy in the environment (%s)\n", p ? p : "unset");
      return -1;
    }
  memset (&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons ((unsigned short) port);
  if (inet_pton (AF_INET, host, &a.sin_addr) != 1 || (fd = socket (AF_INET, SOCK_STREAM, 0)) < 0)
    return -1;
  if (connect (fd, (struct sockaddr *) &a, sizeof a) < 0)
    {
      printf ("fetch: cannot connect to the proxy %s: %s\n", p, strerror (errno));
      close (fd);
      return -1;
    }
  return fd;
}

static void
fetch (const char *url)
{
  char req[1024], resp[8192], host[256];
  size_t got = 0;
  ssize_t n;
  char *eol, *body;
  int fd;
  if (sscanf (url, "http://%255[^/:]", host) != 1 || (fd = proxy_connect ()) < 0)
    {
      printf ("fetch %s: failed\n", url);
      return;
    }
  snprintf (req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", url, host);
  if (write (fd, req, strlen (req)) < 0)
    printf ("fetch %s: write: %s\n", url, strerror (errno));
  while (got < sizeof resp - 1 && (n = read (fd, resp + got, sizeof resp - 1 - got)) > 0)
    got += (size_t) n;
  close (fd);
  resp[got] = '\0';
  eol = strstr (resp, "\r\n");
  if (eol == NULL)
    {
      printf ("fetch %s: no answer\n", url);
      return;
    }
  *eol = '\0';
  printf ("fetch %s: %s\n", url, resp);
  body = strstr (eol + 2, "\r\n\r\n");
  if (body)
    {
      body += 4;
      body[strcspn (body, "\r\n")] = '\0';
      printf ("fetch body: %s\n", body);
    }
  fflush (stdout);
}

static void
attest (int port, const char *nonce)
{
  static char resp[65536];
  char req[2048], body[1024];
  struct sockaddr_in a;
  size_t got = 0;
  ssize_t n;
  char *eol, *doc;
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  memset (&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons ((unsigned short) port);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd < 0 || connect (fd, (struct sockaddr *) &a, sizeof a) < 0)
    {
      printf ("attest: cannot connect to 127.0.0.1:%d: %s\n", port, strerror (errno));
      return;
    }
  snprintf (body, sizeof body, "{\"nonce\": \"%s\"}", nonce);
  snprintf (req, sizeof req,
            "POST /v1/attestation?encoding=base64 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
            strlen (body), body);
  if (write (fd, req, strlen (req)) < 0)
    printf ("attest: write: %s\n", strerror (errno));
  while (got < sizeof resp - 1 && (n = read (fd, resp + got, sizeof resp - 1 - got)) > 0)
    got += (size_t) n;
  close (fd);
  resp[got] = '\0';
  eol = strstr (resp, "\r\n");
  doc = strstr (resp, "\r\n\r\n");
  if (eol == NULL || doc == NULL)
    {
      printf ("attest: no answer\n");
      return;
    }
  *eol = '\0';
  printf ("attest: %s\n", resp);
  doc += 4;
  doc[strcspn (doc, "\r\n")] = '\0';
  for (size_t i = 0, len = strlen (doc); i < len; i += 1000)
    printf ("attest doc: %.1000s\n", doc + i);
  fflush (stdout);
}

static int
serve (int port)
{
  static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n"
                               "Connection: close\r\n\r\nhello from inside the enclave\n";
  struct sockaddr_in a;
  struct sigaction sa;
  int one = 1, lfd = socket (AF_INET, SOCK_STREAM, 0);
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_term; /* no SA_RESTART: accept() returns EINTR */
  sigaction (SIGTERM, &sa, NULL);
  memset (&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons ((unsigned short) port);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (lfd < 0 || bind (lfd, (struct sockaddr *) &a, sizeof a) < 0 || listen (lfd, 16) < 0)
    {
      printf ("serve: cannot listen on 127.0.0.1:%d: %s\n", port, strerror (errno));
      return 1;
    }
  printf ("serving on 127.0.0.1:%d\n", port);
  fflush (stdout);
  while (!stop)
    {
      char buf[4096];
      size_t got = 0;
      ssize_t n;
      int fd = accept (lfd, NULL, NULL);
      if (fd < 0)
        continue;
      while (got < sizeof buf - 1 && (n = read (fd, buf + got, sizeof buf - 1 - got)) > 0)
        {
          got += (size_t) n;
          buf[got] = '\0';
          if (strstr (buf, "\r\n\r\n"))
            break;
        }
      if (write (fd, answer, sizeof answer - 1) < 0)
        printf ("serve: write: %s\n", strerror (errno));
      close (fd);
      printf ("served a request\n");
      fflush (stdout);
    }
  printf ("caught SIGTERM, exiting\n");
  return 0;
}

int
main (int argc, char **argv)
{
  int i, port = 0;
  setvbuf (stdout, NULL, _IOLBF, 0);
  for (i = 1; i + 1 < argc; i += 2)
    {
      if (strcmp (argv[i], "--fetch") == 0)
        fetch (argv[i + 1]);
      else if (strcmp (argv[i], "--attest") == 0 && i + 2 < argc)
        {
          attest (atoi (argv[i + 1]), argv[i + 2]);
          i++;
        }
      else if (strcmp (argv[i], "--serve") == 0)
        port = atoi (argv[i + 1]);
      else
        {
          printf ("netapp: unknown option %s\n", argv[i]);
          return 2;
        }
    }
  return port ? serve (port) : 0;
}
