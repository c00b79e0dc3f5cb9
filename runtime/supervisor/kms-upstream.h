/* enclaver-supervisor: what the KMS proxy's two files share (kms.c serves the app's
 * requests; kms-upstream.c holds the bounded blocking I/O, the connections out through
 * the egress proxy and IMDSv2).  Private to runtime/supervisor/. */
#ifndef ENCLAVER_SV_KMS_UPSTREAM_H
#define ENCLAVER_SV_KMS_UPSTREAM_H

#include <limits.h>
#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "net/http.h"

#define KMS_HEAD_MAX 16384
#define KMS_BODY_MAX (1024 * 1024)        /* a request body from the app */
#define KMS_RESP_MAX (2 * 1024 * 1024)    /* an answer of KMS or IMDS, head included */
#define KMS_MAX_WORKERS 16
#define KMS_TIMEOUT_MS 30000
#define KMS_IMDS_DEFAULT "169.254.169.254:80"
#define KMS_TOKEN_TTL 21600
#define KMS_CA_DEFAULT "/etc/ssl/certs/ca-certificates.crt"

struct kms
{
  struct sv_net *net;
  struct ev_loop *loop;
  int lfd;
  char listen_addr[160];
  char egress_addr[160];      /* the enclave's egress proxy, where requests go out */
  char imds_host[256];
  unsigned imds_port;
  char ca_file[PATH_MAX];
  json_t *endpoints;          /* manifest kms_proxy.endpoints (region -> HOST[:PORT]) */
  int timeout_ms;
  int token_ttl;
  EVP_PKEY *key;              /* the proxy's RSA-2048 recipient key */
  unsigned char *spki;        /* its DER SubjectPublicKeyInfo */
  size_t spki_len;
  SSL_CTX *ssl;
  struct enclaver_nsm *nsm;
  char nsm_error[512];
  pthread_mutex_t nsm_lock;   /* one NSM call at a time */

  pthread_mutex_t lock;       /* protects what follows */
  pthread_cond_t idle;
  char token[512];            /* the IMDSv2 session token, "" when none */
  struct timespec token_until;
  size_t workers;             /* requests in flight */
};

/* An upstream connection: to the egress proxy, then plain or (after CONNECT) TLS; every
 * blocking call is bounded by deadline. */
struct up
{
  int fd;
  SSL *ssl;
  const struct timespec *deadline;
};

/* A parsed answer: the head parsed in buf, the (de-chunked) body in body. */
struct answer
{
  char *buf;
  size_t len;
  struct http_head h;
  char *body;
  size_t body_len;
};

struct creds
{
  char akid[256], secret[256], token[4096];
};

/* t = now + ms on the monotonic clock. */
void kms_deadline_in (struct timespec *t, int ms);
/* recv/send on fd bounded by deadline (errno ETIMEDOUT when it passes). */
ssize_t kms_t_recv (int fd, void *buf, size_t len, const struct timespec *deadline);
int kms_t_send_all (int fd, const void *buf, size_t len, const struct timespec *deadline);
/* OpenSSL's error queue (or errno) as one line, the queue cleared. */
void kms_ssl_why (char *buf, size_t len);

int kms_up_write (struct up *u, const void *buf, size_t len);
void kms_up_close (struct up *u);
/* Through the egress proxy's CONNECT to host:port, then TLS with the server's name
 * checked against k->ssl's CA bundle. */
int kms_up_open_tls (struct kms *k, struct up *u, const char *host, unsigned port,
                     const struct timespec *deadline, char *err, size_t errlen);
/* Read one answer (head and body, de-chunked) of at most KMS_RESP_MAX bytes. */
int kms_read_answer (struct up *u, struct http_str method, struct answer *a, char *err, size_t errlen);
void kms_answer_free (struct answer *a);

/* The instance role's credentials, and the instance's region, from IMDSv2. */
int kms_imds_credentials (struct kms *k, const struct timespec *deadline, struct creds *c,
                          char *err, size_t errlen);
int kms_imds_region (struct kms *k, const struct timespec *deadline, char *region, size_t len,
                     char *err, size_t errlen);

#endif
