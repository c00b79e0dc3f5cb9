/* enclaver-supervisor: status/log stream servers, per-client queues, log replay ring. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "rtutil.h"
#include "streams.h"
#include "transport.h"

void
sv_ring_init (struct sv_ring *r, size_t cap)
{
  r->data = xmalloc (cap);
  r->cap = cap;
  r->start = r->len = 0;
}

void
sv_ring_free (struct sv_ring *r)
{
  free (r->data);
  memset (r, 0, sizeof *r);
}

void
sv_ring_append (struct sv_ring *r, const char *p, size_t n)
{
  if (n >= r->cap)
    {
      memcpy (r->data, p + (n - r->cap), r->cap);
      r->start = 0;
      r->len = r->cap;
      return;
    }
  while (n > 0)
    {
      size_t end = (r->start + r->len) % r->cap;
      size_t chunk = r->cap - end < n ? r->cap - end : n;
      memcpy (r->data + end, p, chunk);
      p += chunk;
      n -= chunk;
      if (r->len + chunk <= r->cap)
        r->len += chunk;
      else
        {
          size_t over = r->len + chunk - r->cap;
          r->start = (r->start + over) % r->cap;
          r->len = r->cap;
        }
    }
}

void
sv_ring_copy (const struct sv_ring *r, char *out)
{
  size_t first = r->cap - r->start < r->len ? r->cap - r->start : r->len;
  memcpy (out, r->data + r->start, first);
  memcpy (out + first, r->data, r->len - first);
}

static long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line on the console (stderr), never blocking for long: the console copy of the
 * app's output goes the same way. */
static void __attribute__ ((format (printf, 1, 2)))
say (const char *fmt, ...)
{
  char buf[512];
  va_list ap;
  va_start (ap, fmt);
  rt_vsay (buf, sizeof buf, "enclaver-supervisor", fmt, ap);
  va_end (ap);
}

size_t
sv_drop_note (char *buf, size_t cap, int newline, unsigned long long bytes)
{
  int n = snprintf (buf, cap, "%s[enclaver-supervisor: %llu bytes of output dropped here: this log client "
                    "read too slowly]\n", newline ? "\n" : "", bytes);
  return n < 0 ? 0 : (size_t) n < cap ? (size_t) n : cap - 1;
}

static void
client_close (struct sv_client *c)
{
  if (c->fd >= 0)
    {
      close (c->fd);
      if (c->dropped_all)
        say ("%s client %u disconnected; %llu bytes of output had been dropped for it, %llu of them "
             "since its last note", c->server ? c->server->name : "stream", c->id, c->dropped_all, c->dropped);
    }
  c->fd = -1;
  free (c->buf);
  c->buf = NULL;
  c->off = c->len = c->cap = 0;
}

/* Write as much as the socket takes now.  -1 when the client is gone. */
static int
client_try_write (struct sv_client *c)
{
  while (c->off < c->len)
    {
      ssize_t w = send (c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
          return -1;
        }
      c->off += (size_t) w;
    }
  c->off = c->len = 0;
  return 0;
}

/* Append to a client's queue (room is checked by the caller). */
static void
client_append (struct sv_client *c, const char *p, size_t n)
{
  if (c->off > 0 && c->off == c->len)
    c->off = c->len = 0;
  if (c->off > 0 && c->len + n > c->cap)
    {
      memmove (c->buf, c->buf + c->off, c->len - c->off);
      c->len -= c->off;
      c->off = 0;
    }
  if (c->len + n > c->cap)
    {
      size_t cap = c->cap ? c->cap : 4096;
      while (cap < c->len + n)
        cap *= 2;
      c->buf = xreallocarray (c->buf, cap, 1);
      c->cap = cap;
    }
  memcpy (c->buf + c->len, p, n);
  c->len += n;
  c->last = p[n - 1];
}

/* A lossy client that dropped bytes and has read half of its queue: the note. */
static void
client_note_drops (struct sv_client *c)
{
  char note[200];
  size_t n;
  if (c->dropped == 0 || c->len - c->off > SV_CLIENT_MAX_PENDING / 2)
    return;
  n = sv_drop_note (note, sizeof note, c->last != '\n' && c->last != 0, c->dropped);
  say ("%s client %u read too slowly: %llu bytes of output dropped for it (%llu in all); a note marks "
       "the place in its stream", c->server ? c->server->name : "stream", c->id, c->dropped, c->dropped_all);
  client_append (c, note, n);
  c->dropped = 0;
}

void
sv_client_queue (struct sv_client *c, const char *p, size_t n)
{
  int lossy = c->server && c->server->lossy;
  if (c->fd < 0 || n == 0)
    return;
  if (lossy)
    client_note_drops (c);
  if (c->dropped || c->len - c->off + n > SV_CLIENT_MAX_PENDING)
    {
      if (!lossy)
        {
          say ("closing %s client %u: it fell %zu bytes behind", c->server ? c->server->name : "stream", c->id,
               c->len - c->off);
          client_close (c);
          return;
        }
      c->dropped += n;
      c->dropped_all += n;
      return;
    }
  client_append (c, p, n);
  if (client_try_write (c) < 0)
    client_close (c);
}

void
sv_server_broadcast (struct sv_server *s, const char *p, size_t n)
{
  struct sv_client *c;
  for (c = s->clients; c; c = c->next)
    sv_client_queue (c, p, n);
}

static void
reap_closed (struct sv_server *s)
{
  struct sv_client **pp = &s->clients;
  while (*pp)
    {
      struct sv_client *c = *pp;
      if (c->fd < 0)
        {
          *pp = c->next;
          client_close (c);
          free (c);
          s->nclients--;
        }
      else
        pp = &c->next;
    }
}

struct sv_client *
sv_server_accept (struct sv_server *s)
{
  struct sv_client *c, **pp;
  size_t max = s->max_clients ? s->max_clients : SV_STATUS_MAX_CLIENTS;
  int fd = enclaver_transport_accept (s->lfd, 1);
  if (fd < 0)
    {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        {
          /* The connection stays in the backlog; poll would report it again at once. */
          if (s->paused_until == 0)
            say ("%s stream: cannot accept a client: %s; trying again every %d ms", s->name, strerror (errno),
                 SV_ACCEPT_PAUSE_MS);
          s->paused_until = now_ms () + SV_ACCEPT_PAUSE_MS;
        }
      return NULL;
    }
  if (s->paused_until)
    say ("%s stream: accepting clients again", s->name);
  s->paused_until = 0;
  if (s->nclients >= max)
    {
      if (!s->full_noted)
        say ("%s stream: %zu clients already, the most it serves: closing new ones until one leaves", s->name,
             max);
      s->full_noted = 1;
      close (fd);
      errno = ECONNREFUSED;
      return NULL;
    }
  if (s->full_noted && s->nclients < max)
    s->full_noted = 0;
  c = xcalloc (1, sizeof *c);
  c->fd = fd;
  c->server = s;
  c->id = ++s->next_id;
  s->nclients++;
  /* Append, so broadcast order is connection order (not that it matters). */
  for (pp = &s->clients; *pp; pp = &(*pp)->next)
    ;
  *pp = c;
  return c;
}

int
sv_server_timeout (const struct sv_server *s)
{
  long long left;
  if (s->lfd < 0 || s->paused_until == 0)
    return -1;
  left = s->paused_until - now_ms ();
  return left < 1 ? 1 : (int) left;
}

size_t
sv_server_nfds (const struct sv_server *s)
{
  size_t n = s->lfd >= 0 ? 1 : 0;
  const struct sv_client *c;
  for (c = s->clients; c; c = c->next)
    n++;
  return n;
}

size_t
sv_server_fill (const struct sv_server *s, struct pollfd *p)
{
  size_t n = 0;
  const struct sv_client *c;
  if (s->lfd >= 0)
    {
      p[n].fd = s->lfd;
      p[n].events = s->paused_until && now_ms () < s->paused_until ? 0 : POLLIN;
      p[n].revents = 0;
      n++;
    }
  for (c = s->clients; c; c = c->next)
    {
      p[n].fd = c->fd;
      p[n].events = POLLIN | (c->len > c->off ? POLLOUT : 0);
      p[n].revents = 0;
      n++;
    }
  return n;
}

/* Split a client's input into lines for the server's on_line (bounded: a line longer
 * than SV_REQUEST_LINE_MAX is dropped whole). */
static void
client_input (struct sv_server *s, struct sv_client *c, const char *p, size_t n)
{
  size_t k;
  for (k = 0; k < n; k++)
    {
      if (p[k] == '\n')
        {
          if (!c->in_skip)
            s->on_line (s->ctx, c->in, c->in_len);
          c->in_len = 0;
          c->in_skip = 0;
        }
      else if (c->in_skip)
        continue;
      else if (c->in_len == sizeof c->in)
        {
          c->in_skip = 1;
          c->in_len = 0;
        }
      else
        c->in[c->in_len++] = p[k];
    }
}

enum sv_request
sv_request_parse (const char *line, size_t len)
{
  json_t *o = json_loadb (line, len, JSON_REJECT_DUPLICATES, NULL), *v;
  enum sv_request r = SV_REQUEST_NONE;
  if (json_is_object (o) && (v = json_object_get (o, "request")) != NULL)
    r = json_is_string (v) && strcmp (json_string_value (v), "stop") == 0 ? SV_REQUEST_STOP : SV_REQUEST_UNKNOWN;
  json_decref (o);
  return r;
}

void
sv_server_service (struct sv_server *s, const struct pollfd *p, size_t n)
{
  size_t i = 0;
  struct sv_client *c;

  if (s->lfd >= 0)
    i = 1; /* the listener is handled by the caller (it sends the greeting) */
  for (c = s->clients; c && i < n; c = c->next, i++)
    {
      if (c->fd < 0 || p[i].fd != c->fd)
        continue;
      if (p[i].revents & POLLIN)
        {
          char in[512];
          ssize_t r = recv (c->fd, in, sizeof in, MSG_DONTWAIT);
          if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK))
            {
              client_close (c);
              continue;
            }
          if (r > 0 && s->on_line)
            client_input (s, c, in, (size_t) r);
        }
      if (p[i].revents & (POLLERR | POLLNVAL))
        {
          client_close (c);
          continue;
        }
      if ((p[i].revents & (POLLOUT | POLLHUP)) && client_try_write (c) < 0)
        client_close (c);
      else if ((p[i].revents & POLLHUP) && !(p[i].revents & POLLIN))
        client_close (c);
      else if (c->dropped && s->lossy)
        {
          /* It has room again: the note now, even if nothing more is written. */
          client_note_drops (c);
          if (client_try_write (c) < 0)
            client_close (c);
        }
    }
  reap_closed (s);
}

int
sv_server_pending (const struct sv_server *s)
{
  const struct sv_client *c;
  for (c = s->clients; c; c = c->next)
    if (c->fd >= 0 && c->len > c->off)
      return 1;
  return 0;
}

void
sv_server_flush (struct sv_server *s, int timeout_ms)
{
  long long deadline = now_ms () + timeout_ms;
  while (sv_server_pending (s))
    {
      long long left = deadline - now_ms ();
      size_t n = sv_server_nfds (s), m;
      struct pollfd *p;
      if (left <= 0)
        break;
      p = xcalloc (n, sizeof *p);
      m = sv_server_fill (s, p);
      if (s->lfd >= 0)
        p[0].events = 0; /* no new clients while flushing */
      if (poll (p, m, (int) left) < 0 && errno != EINTR)
        {
          free (p);
          break;
        }
      sv_server_service (s, p, m);
      free (p);
    }
}

void
sv_server_close (struct sv_server *s)
{
  struct sv_client *c = s->clients, *next;
  for (; c; c = next)
    {
      next = c->next;
      client_close (c);
      free (c);
    }
  s->clients = NULL;
  s->nclients = 0;
  if (s->lfd >= 0)
    close (s->lfd);
  s->lfd = -1;
}

char *
sv_status_line (const char *kind, int value, const char *text)
{
  struct strbuf sb;
  struct jsonl j;

  strbuf_init (&sb);
  jsonl_begin (&j, &sb);
  jsonl_str (&j, "status", kind);
  if (strcmp (kind, "exited") == 0)
    jsonl_int (&j, "code", value);
  else if (strcmp (kind, "signaled") == 0)
    jsonl_int (&j, "signal", value);
  else if (strcmp (kind, "fatal") == 0)
    jsonl_str (&j, "error", text ? text : "");
  jsonl_end (&j);
  return strbuf_release (&sb);
}
