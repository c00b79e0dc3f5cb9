/* enclaver runtime: the egress port's framing (see egressproto.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/netpolicy.h"
#include "egressproto.h"

static void
perr (char *err, size_t errlen, const char *msg)
{
  if (errlen)
    snprintf (err, errlen, "%s", msg);
}

int
egress_frame_read (struct egress_frame *f, int fd)
{
  for (;;)
    {
      size_t want;
      ssize_t n;
      if (f->have < 2)
        want = 2 - f->have;
      else
        {
          size_t len = (size_t) f->buf[0] | ((size_t) f->buf[1] << 8);
          if (len > EGRESS_FRAME_MAX)
            {
              errno = EMSGSIZE;
              return -1;
            }
          if (f->have == 2 + len)
            return 1;
          want = 2 + len - f->have;
        }
      n = read (fd, f->buf + f->have, want);
      if (n > 0)
        {
          f->have += (size_t) n;
          continue;
        }
      if (n == 0)
        {
          errno = ECONNRESET;
          return -1;
        }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return -1;
    }
}

const char *
egress_frame_body (const struct egress_frame *f, size_t *len)
{
  *len = f->have >= 2 ? f->have - 2 : 0;
  return (const char *) f->buf + 2;
}

/* One frame: the length, then the JSON text of j (compact, in insertion order, as
 * serde_json writes a struct's fields). */
static int
encode (char *out, size_t cap, json_t *j)
{
  char *s = json_dumps (j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
  size_t n;
  json_decref (j);
  if (s == NULL)
    return -1;
  n = strlen (s);
  if (n > EGRESS_FRAME_MAX || n + 2 > cap)
    {
      free (s);
      return -1;
    }
  out[0] = (char) (n & 0xff);
  out[1] = (char) (n >> 8);
  memcpy (out + 2, s, n);
  free (s);
  return (int) n + 2;
}

int
egress_encode_request (char *out, size_t cap, const char *host, unsigned port)
{
  json_t *j;
  size_t hl = host ? strlen (host) : 0;
  if (hl == 0 || hl > EGRESS_HOST_MAX || port == 0 || port > 65535)
    return -1;
  j = json_object ();
  if (j == NULL || json_object_set_new (j, "host", json_stringn (host, hl)) < 0
      || json_object_set_new (j, "port", json_integer (port)) < 0)
    {
      json_decref (j);
      return -1;
    }
  return encode (out, cap, j);
}

int
egress_decode_request (const char *json, size_t len, char *host, size_t hostcap, unsigned *port,
                       char *err, size_t errlen)
{
  json_error_t je;
  json_t *j = json_loadb (json, len, JSON_REJECT_DUPLICATES, &je), *h, *p;
  const char *s;
  size_t hl, i;
  json_int_t pv;
  int rc = -1;

  if (j == NULL)
    {
      if (errlen)
        snprintf (err, errlen, "connect request is not JSON: %s", je.text);
      return -1;
    }
  h = json_object_get (j, "host");
  p = json_object_get (j, "port");
  if (!json_is_object (j) || !json_is_string (h))
    {
      perr (err, errlen, "connect request has no \"host\" string");
      goto out;
    }
  if (!json_is_integer (p) || (pv = json_integer_value (p)) < 1 || pv > 65535)
    {
      perr (err, errlen, "connect request has no \"port\" in 1..65535");
      goto out;
    }
  s = json_string_value (h);
  hl = json_string_length (h);
  if (hl == 0 || hl > EGRESS_HOST_MAX || hl + 1 > hostcap)
    {
      perr (err, errlen, "connect request: host empty or longer than 255 bytes");
      goto out;
    }
  for (i = 0; i < hl; i++)
    if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f)
      {
        perr (err, errlen, "connect request: host contains a space or control character");
        goto out;
      }
  memcpy (host, s, hl);
  host[hl] = '\0';
  *port = (unsigned) pv;
  rc = 0;
out:
  json_decref (j);
  return rc;
}

int
egress_encode_ok (char *out, size_t cap)
{
  return encode (out, cap, json_string ("Ok"));
}

int
egress_encode_err (char *out, size_t cap, int os_code, const char *message)
{
  json_t *j = json_object (), *e = json_object ();
  char msg[1024];
  /* Keep the frame bounded whatever the message is. */
  snprintf (msg, sizeof msg, "%s", message ? message : "");
  if (j == NULL || e == NULL || json_object_set_new (e, "os_code", json_integer (os_code)) < 0
      || json_object_set_new (e, "message", json_string (msg)) < 0 || json_object_set_new (j, "Err", e) < 0)
    {
      json_decref (j);
      return -1;
    }
  return encode (out, cap, j);
}

int
egress_decode_reply (const char *json, size_t len, int *ok, int *os_code, char *message, size_t msgcap,
                     char *err, size_t errlen)
{
  json_error_t je;
  json_t *j = json_loadb (json, len, JSON_DECODE_ANY, &je), *e, *c, *m;
  int rc = -1;

  *ok = 0;
  *os_code = 0;
  if (msgcap)
    message[0] = '\0';
  if (j == NULL)
    {
      if (errlen)
        snprintf (err, errlen, "egress reply is not JSON: %s", je.text);
      return -1;
    }
  if (json_is_string (j) && strcmp (json_string_value (j), "Ok") == 0)
    {
      *ok = 1;
      rc = 0;
      goto out;
    }
  e = json_object_get (j, "Err");
  c = json_object_get (e, "os_code");
  m = json_object_get (e, "message");
  if (!json_is_object (e) || !json_is_integer (c) || !json_is_string (m))
    {
      perr (err, errlen, "egress reply is neither \"Ok\" nor {\"Err\":{\"os_code\",\"message\"}}");
      goto out;
    }
  *os_code = (int) json_integer_value (c);
  if (msgcap)
    snprintf (message, msgcap, "%s", json_string_value (m));
  rc = 0;
out:
  json_decref (j);
  return rc;
}

/* The string entries of a JSON array (borrowed from it), or NULL when there are none. */
static const char **
json_strv (const json_t *arr, size_t *n)
{
  size_t i, k = 0;
  const char **v;
  *n = 0;
  if (!json_is_array (arr) || json_array_size (arr) == 0)
    return NULL;
  v = calloc (json_array_size (arr) + 1, sizeof *v);
  if (v == NULL)
    abort ();
  for (i = 0; i < json_array_size (arr); i++)
    if (json_is_string (json_array_get (arr, i)))
      v[k++] = json_string_value (json_array_get (arr, i));
  *n = k;
  return v;
}

struct netpolicy *
egress_policy_from_json (const json_t *egress, size_t *n_allow, size_t *n_deny, char *err, size_t errlen)
{
  const char **allow = json_strv (json_object_get (egress, "allow"), n_allow);
  const char **deny = json_strv (json_object_get (egress, "deny"), n_deny);
  struct netpolicy *p = netpolicy_new (allow, *n_allow, deny, *n_deny, err, errlen);
  free (allow);
  free (deny);
  return p;
}
