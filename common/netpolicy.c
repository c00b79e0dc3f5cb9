/* enclaver common helpers: the egress allow/deny policy (ENCLAVER.md section 3).
 *
 * The pattern checker (also the manifest's lint, through netpolicy_pattern_check) and
 * the matcher share one parser, so what `enclaver manifest` accepts is exactly what
 * the proxy enforces.  Host names are matched label by label from the right; addresses
 * by prefix.  Nothing is allocated per check: the proxy calls this for every request. */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/netpolicy.h"
#include "common/xalloc.h"

#define NP_MAX_NAME 253  /* a host name without its trailing dot (RFC 1035 2.3.4) */
#define NP_MAX_LABEL 63
/* longest host text worth looking at: a name of 253 bytes plus its dot, or an IPv6
 * address in brackets; anything longer is denied without being read further */
#define NP_MAX_HOST 256

enum
{
  NP_NAME,
  NP_V4,
  NP_V6
};

struct np_rule
{
  char *text;      /* as written, for verdicts and log lines */
  int kind;        /* NP_* */
  char *name;      /* NP_NAME: lower-cased */
  size_t name_len;
  unsigned char addr[16];
  unsigned prefix; /* NP_V4, NP_V6: bits that must be equal */
};

struct np_list
{
  struct np_rule *r;
  size_t n;
};

struct netpolicy
{
  struct np_list allow, deny;
};

/* A host to check, parsed once. */
struct np_host
{
  int kind;       /* NP_* */
  char name[NP_MAX_HOST + 1]; /* NP_NAME: lower-cased, no trailing dot */
  size_t name_len;
  unsigned char addr[16];
};

static int __attribute__ ((format (printf, 5, 6)))
fail (size_t *col, size_t at, char *msg, size_t msglen, const char *fmt, ...)
{
  va_list ap;
  if (col)
    *col = at;
  if (msg && msglen > 0)
    {
      va_start (ap, fmt);
      vsnprintf (msg, msglen, fmt, ap);
      va_end (ap);
    }
  return -1;
}

static int
is_digit (unsigned char c)
{
  return c >= '0' && c <= '9';
}

static int
is_alnum (unsigned char c)
{
  return is_digit (c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static unsigned char
lower (unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char) (c - 'A' + 'a') : c;
}

static int
all_digits (const char *s, size_t n)
{
  size_t i;
  if (n == 0)
    return 0;
  for (i = 0; i < n; i++)
    if (!is_digit ((unsigned char) s[i]))
      return 0;
  return 1;
}

/* inet_pton on the n bytes at s (not NUL-terminated). */
static int
pton_n (int af, const char *s, size_t n, unsigned char *out)
{
  char buf[64];
  if (n >= sizeof buf)
    return 0;
  memcpy (buf, s, n);
  buf[n] = '\0';
  return inet_pton (af, buf, out) == 1;
}

static int
is_v4_mapped (const unsigned char *a)
{
  return memcmp (a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0;
}

/* ------------------------------------------------------------------------- */
/* Patterns                                                                   */

/* The IP part of the grammar: 1 when s is an address or CIDR (r filled when given), 0
 * when s is to be read as a host name, -1 after a message about a broken address. */
static int
ip_pattern (const char *s, struct np_rule *r, size_t *col, char *msg, size_t msglen)
{
  const char *slash = strchr (s, '/');
  size_t alen = slash ? (size_t) (slash - s) : strlen (s);
  const char *colon = memchr (s, ':', alen);
  unsigned char buf[16];
  int family;
  size_t aoff = 0; /* where the address starts in s (after a '[') */

  if (alen >= 2 && s[0] == '[' && s[alen - 1] == ']')
    {
      aoff = 1;
      if (!pton_n (AF_INET6, s + 1, alen - 2, buf))
        return fail (col, 1, msg, msglen, "invalid IPv6 address in brackets");
      family = AF_INET6;
    }
  else if (pton_n (AF_INET, s, alen, buf))
    family = AF_INET;
  else if (colon != NULL)
    {
      const char *star = memchr (s, '*', alen);
      const char *last = colon, *p;
      for (p = colon; p < s + alen; p++)
        if (*p == ':')
          last = p;
      if (star)
        return fail (col, (size_t) (star - s), msg, msglen,
                     "wildcards do not work in IP addresses; write a CIDR (ADDRESS/PREFIX)");
      if (!pton_n (AF_INET6, s, alen, buf))
        {
          /* "example.com:443" and "[::1]:443" are common mistakes */
          size_t tail = alen - (size_t) (last + 1 - s);
          if (tail > 0 && all_digits (last + 1, tail)
              && (last == colon || (s[0] == '[' && last[-1] == ']')))
            return fail (col, (size_t) (last - s), msg, msglen,
                         "ports are not part of egress patterns (drop \"%.*s\")",
                         (int) (tail + 1), last);
          return fail (col, 0, msg, msglen, "invalid IPv6 address");
        }
      family = AF_INET6;
    }
  else
    {
      /* all-numeric dotted text is a broken IPv4 address, not a host name */
      size_t i;
      int digits_dots = alen > 0;
      for (i = 0; i < alen; i++)
        if (!is_digit ((unsigned char) s[i]) && s[i] != '.')
          digits_dots = 0;
      if (digits_dots && memchr (s, '.', alen))
        return fail (col, 0, msg, msglen, "invalid IPv4 address");
      if (slash)
        return fail (col, alen, msg, msglen, "\"/\" is only allowed in CIDRs (ADDRESS/PREFIX)");
      return 0;
    }

  if (family == AF_INET6 && is_v4_mapped (buf))
    return fail (col, aoff, msg, msglen,
                 "IPv4-mapped IPv6 addresses are not supported; write the IPv4 address");
  {
    unsigned maxp = family == AF_INET ? 32 : 128, v = maxp;
    if (slash)
      {
        const char *pfx = slash + 1;
        size_t plen = strlen (pfx);
        size_t at = (size_t) (pfx - s);
        if (plen == 0 || plen > 3 || !all_digits (pfx, plen))
          return fail (col, at, msg, msglen, "invalid CIDR prefix length \"%s\"", pfx);
        v = (unsigned) strtoul (pfx, NULL, 10);
        if (v > maxp)
          return fail (col, at, msg, msglen,
                       "CIDR prefix length %u out of range for %s (0..%u)", v,
                       family == AF_INET ? "IPv4" : "IPv6", maxp);
      }
    if (r)
      {
        r->kind = family == AF_INET ? NP_V4 : NP_V6;
        memset (r->addr, 0, sizeof r->addr);
        memcpy (r->addr, buf, family == AF_INET ? 4 : 16);
        r->prefix = v;
      }
  }
  return 1;
}

/* "10.0.0.*" reads as a host name whose labels happen to be digits: it can never match
 * the addresses it was meant for.  The CIDR it stands for, when it has one. */
static void
cidr_hint (const char *s, char *out, size_t outlen)
{
  unsigned octets[4] = { 0, 0, 0, 0 };
  size_t nnum = 0, nlab = 0, i;
  const char *p = s;
  int ok = 1, in_wild = 0;

  for (;;)
    {
      const char *e = strchr (p, '.');
      size_t l = e ? (size_t) (e - p) : strlen (p);
      if (l == 1 && *p == '*')
        in_wild = 1;
      else if (!in_wild && l <= 3 && all_digits (p, l) && strtoul (p, NULL, 10) <= 255 && nlab < 4)
        octets[nnum++] = (unsigned) strtoul (p, NULL, 10);
      else
        ok = 0;
      nlab++;
      if (e == NULL)
        break;
      p = e + 1;
    }
  if (ok && nlab == 4 && nnum >= 1 && nnum < 4)
    {
      for (i = nnum; i < 4; i++)
        octets[i] = 0;
      snprintf (out, outlen, "a CIDR such as %u.%u.%u.%u/%zu", octets[0], octets[1], octets[2],
                octets[3], nnum * 8);
    }
  else
    snprintf (out, outlen, "a CIDR (ADDRESS/PREFIX)");
}

static int
check_pattern (const char *s, struct np_rule *r, size_t *col, char *msg, size_t msglen)
{
  const char *p, *label;
  size_t n, nlabels = 0, nwild = 0, nnumeric = 0, first_wild = 0, i;
  int ip;

  if (s == NULL || *s == '\0')
    return fail (col, 0, msg, msglen, "empty pattern");
  for (p = s; *p; p++)
    if (*p == ' ' || (*p >= '\t' && *p <= '\r') || (unsigned char) *p < 0x20 || *p == 0x7f)
      return fail (col, (size_t) (p - s), msg, msglen, "whitespace or control character");
  if ((p = strstr (s, "://")) != NULL)
    return fail (col, 0, msg, msglen, "a URL, not a host name (drop the scheme)");
  ip = ip_pattern (s, r, col, msg, msglen);
  if (ip != 0)
    return ip < 0 ? -1 : 0;

  n = strlen (s);
  /* "*" and "**" stand for at least one byte each: the shortest name this matches */
  if (n - (strncmp (s, "**.", 3) == 0 ? 1 : 0) > NP_MAX_NAME)
    return fail (col, NP_MAX_NAME, msg, msglen, "longer than 253 characters");
  if (s[0] == '.')
    return fail (col, 0, msg, msglen, "empty label (leading dot)");
  if (s[n - 1] == '.')
    return fail (col, n - 1, msg, msglen, "empty label (trailing dot)");

  label = s;
  for (;;)
    {
      const char *e = strchr (label, '.');
      size_t l = e ? (size_t) (e - label) : strlen (label);
      size_t off = (size_t) (label - s);
      nlabels++;
      if (l == 0)
        return fail (col, off, msg, msglen, "empty label");
      if (l > NP_MAX_LABEL)
        return fail (col, off, msg, msglen, "label longer than 63 characters");
      if (l == 2 && label[0] == '*' && label[1] == '*')
        {
          if (nlabels != 1)
            return fail (col, off, msg, msglen,
                         "\"**\" must be the leftmost label (labels left of it would be "
                         "ignored)");
          if (nwild++ == 0)
            first_wild = off;
        }
      else if (l == 1 && label[0] == '*')
        {
          if (nwild++ == 0)
            first_wild = off;
        }
      else
        {
          for (i = 0; i < l; i++)
            {
              unsigned char ch = (unsigned char) label[i];
              if (ch == '*')
                return fail (col, off + i, msg, msglen,
                             "\"*\" must be a whole label (\"*\" or \"**\")");
              if (ch == '/')
                return fail (col, off + i, msg, msglen,
                             "\"/\" is only allowed in CIDRs (ADDRESS/PREFIX)");
              if (ch >= 0x80)
                return fail (col, off + i, msg, msglen,
                             "non-ASCII character in a label: write the name's IDNA form "
                             "(xn--...), which is what clients send");
              if (!(is_alnum (ch) || ch == '-' || ch == '_'))
                return fail (col, off + i, msg, msglen, "invalid character '%c' in a label",
                             ch);
            }
          if (label[0] == '-' || label[l - 1] == '-')
            return fail (col, label[0] == '-' ? off : off + l - 1, msg, msglen,
                         "a label must not start or end with '-'");
          if (all_digits (label, l))
            nnumeric++;
        }
      if (e == NULL)
        break;
      label = e + 1;
    }
  if (nwild > 0 && nnumeric > 0 && nnumeric + nwild == nlabels)
    {
      char hint[64];
      cidr_hint (s, hint, sizeof hint);
      return fail (col, first_wild, msg, msglen,
                   "wildcards match host names, never IP addresses; write %s", hint);
    }
  /* the rightmost label (TLD) of a host name is never all digits */
  {
    const char *last = strrchr (s, '.');
    last = last ? last + 1 : s;
    if (nlabels > 1 && all_digits (last, strlen (last)))
      return fail (col, (size_t) (last - s), msg, msglen, "looks like a malformed IP address");
  }
  if (r)
    {
      r->kind = NP_NAME;
      r->name = xstrdup (s);
      r->name_len = n;
      for (i = 0; i < n; i++)
        r->name[i] = (char) lower ((unsigned char) r->name[i]);
    }
  return 0;
}

int
netpolicy_pattern_check (const char *pat, size_t *col, char *msg, size_t msglen)
{
  size_t dummy;
  return check_pattern (pat, NULL, col ? col : &dummy, msg, msglen);
}

/* ------------------------------------------------------------------------- */
/* The policy                                                                 */

/* s quoted for a message: printable ASCII as is, '"' and '\\' escaped, other bytes as
 * \xHH, cut with "..." after 300 bytes. */
static void
quote (const char *s, char *out, size_t outlen)
{
  size_t o = 0, i;
  if (outlen < 8)
    {
      if (outlen)
        *out = '\0';
      return;
    }
  out[o++] = '"';
  for (i = 0; s[i] && o + 8 < outlen; i++)
    {
      unsigned char c = (unsigned char) s[i];
      if (i == 300)
        {
          memcpy (out + o, "...", 3);
          o += 3;
          break;
        }
      if (c == '"' || c == '\\')
        {
          out[o++] = '\\';
          out[o++] = (char) c;
        }
      else if (c < 0x20 || c >= 0x7f)
        o += (size_t) snprintf (out + o, outlen - o, "\\x%02x", c);
      else
        out[o++] = (char) c;
    }
  out[o++] = '"';
  out[o] = '\0';
}

static void
list_free (struct np_list *l)
{
  size_t i;
  for (i = 0; i < l->n; i++)
    {
      free (l->r[i].text);
      free (l->r[i].name);
    }
  free (l->r);
  l->r = NULL;
  l->n = 0;
}

static int
list_build (struct np_list *l, const char *key, const char *const *pats, size_t n, char *err,
            size_t errlen)
{
  size_t i;
  l->r = n ? xcalloc (n, sizeof *l->r) : NULL;
  l->n = 0;
  if (n && pats == NULL)
    {
      if (err && errlen)
        snprintf (err, errlen, "%s: %zu patterns but no list", key, n);
      return -1;
    }
  for (i = 0; i < n; i++)
    {
      struct np_rule *r = &l->r[i];
      char why[200], q[320];
      size_t col;
      if (check_pattern (pats[i], r, &col, why, sizeof why) < 0)
        {
          quote (pats[i] ? pats[i] : "", q, sizeof q);
          if (err && errlen)
            snprintf (err, errlen, "%s[%zu]: invalid pattern %s: %s", key, i, q, why);
          free (r->name);
          r->name = NULL;
          return -1;
        }
      r->text = xstrdup (pats[i]);
      l->n = i + 1;
    }
  return 0;
}

struct netpolicy *
netpolicy_new (const char *const *allow, size_t nallow, const char *const *deny, size_t ndeny,
               char *err, size_t errlen)
{
  struct netpolicy *p = xcalloc (1, sizeof *p);
  if (err && errlen)
    *err = '\0';
  if (list_build (&p->allow, "egress.allow", allow, nallow, err, errlen) < 0
      || list_build (&p->deny, "egress.deny", deny, ndeny, err, errlen) < 0)
    {
      netpolicy_free (p);
      return NULL;
    }
  return p;
}

void
netpolicy_free (struct netpolicy *p)
{
  if (p == NULL)
    return;
  list_free (&p->allow);
  list_free (&p->deny);
  free (p);
}

/* ------------------------------------------------------------------------- */
/* Hosts                                                                      */

/* The numeric IPv4 forms of inet_aton(3), which getaddrinfo(3) accepts for a host
 * before any DNS: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x); the last
 * part fills the remaining bytes.  "127.1" and "2130706433" are 127.0.0.1. */
static int
classic_ipv4 (const char *s, unsigned char *out)
{
  uint32_t parts[4];
  size_t np = 0;
  const char *p = s;
  uint32_t v;

  for (;;)
    {
      uint64_t x = 0;
      int base = 10, nd = 0;
      if (np == 4)
        return 0;
      if (p[0] == '0' && (p[1] == 'x'))
        base = 16, p += 2;
      else if (p[0] == '0' && is_digit ((unsigned char) p[1]))
        base = 8, p++;
      for (;; p++, nd++)
        {
          unsigned char c = (unsigned char) *p;
          unsigned d;
          if (is_digit (c))
            d = (unsigned) (c - '0');
          else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned) (c - 'a' + 10);
          else
            break;
          if (d >= (unsigned) base)
            return 0;
          x = x * (unsigned) base + d;
          if (x > 0xffffffffu)
            return 0;
        }
      if (nd == 0)
        return 0;
      parts[np++] = (uint32_t) x;
      if (*p == '\0')
        break;
      if (*p != '.')
        return 0;
      p++;
    }
  {
    size_t i;
    uint32_t lastmax = np == 1 ? 0xffffffffu : (0xffffffffu >> (8 * (np - 1)));
    for (i = 0; i + 1 < np; i++)
      if (parts[i] > 255)
        return 0;
    if (parts[np - 1] > lastmax)
      return 0;
    v = parts[np - 1];
    for (i = 0; i + 1 < np; i++)
      v |= parts[i] << (24 - 8 * i);
  }
  out[0] = (unsigned char) (v >> 24);
  out[1] = (unsigned char) (v >> 16);
  out[2] = (unsigned char) (v >> 8);
  out[3] = (unsigned char) v;
  return 1;
}

/* -1: not a well-formed host (denied whatever the lists say). */
static int
parse_host (const char *host, struct np_host *h)
{
  size_t len = strnlen (host, NP_MAX_HOST + 1), i;
  char *s = h->name;
  unsigned char a6[16];

  if (len == 0 || len > NP_MAX_HOST)
    return -1;
  for (i = 0; i < len; i++)
    s[i] = (char) lower ((unsigned char) host[i]);
  s[len] = '\0';
  memset (h->addr, 0, sizeof h->addr);

  if (s[0] == '[')
    {
      if (len < 3 || s[len - 1] != ']' || !pton_n (AF_INET6, s + 1, len - 2, a6))
        return -1;
      goto v6;
    }
  if (len > 1 && s[len - 1] == '.')
    s[--len] = '\0';
  if (strchr (s, ':'))
    {
      if (inet_pton (AF_INET6, s, a6) != 1)
        return -1;
      goto v6;
    }
  if (inet_pton (AF_INET, s, h->addr) == 1 || classic_ipv4 (s, h->addr))
    {
      h->kind = NP_V4;
      return 0;
    }

  /* a host name */
  if (len > NP_MAX_NAME)
    return -1;
  {
    size_t start = 0;
    for (i = 0; i <= len; i++)
      {
        unsigned char c = (unsigned char) s[i];
        if (c == '.' || c == '\0')
          {
            if (i == start || i - start > NP_MAX_LABEL)
              return -1;
            if (c == '\0' && all_digits (s + start, i - start))
              return -1; /* "1.2.3.4.5", "999.1.1.1": neither a name nor an address */
            start = i + 1;
          }
        else if (!(is_alnum (c) || c == '-' || c == '_'))
          return -1;
      }
  }
  h->kind = NP_NAME;
  h->name_len = len;
  return 0;

v6:
  /* ::ffff:a.b.c.d connects to the IPv4 address a.b.c.d */
  if (is_v4_mapped (a6))
    {
      h->kind = NP_V4;
      memcpy (h->addr, a6 + 12, 4);
    }
  else
    {
      h->kind = NP_V6;
      memcpy (h->addr, a6, 16);
    }
  return 0;
}

/* Labels right to left; "*" is one label, a leftmost "**" one or more. */
static int
match_name (const char *pat, size_t plen, const char *host, size_t hlen)
{
  size_t pe = plen, he = hlen;
  int hleft = 1;

  for (;;)
    {
      size_t ps = pe, hs = he, pl, hl;
      while (ps > 0 && pat[ps - 1] != '.')
        ps--;
      pl = pe - ps;
      if (pl == 2 && pat[ps] == '*' && pat[ps + 1] == '*')
        return hleft;
      if (!hleft)
        return 0;
      while (hs > 0 && host[hs - 1] != '.')
        hs--;
      hl = he - hs;
      if (!(pl == 1 && pat[ps] == '*') && (pl != hl || memcmp (pat + ps, host + hs, pl) != 0))
        return 0;
      if (hs == 0)
        hleft = 0;
      else
        he = hs - 1;
      if (ps == 0)
        return !hleft;
      pe = ps - 1;
    }
}

static int
match_addr (const unsigned char *net, unsigned prefix, const unsigned char *a)
{
  size_t full = prefix / 8;
  unsigned rem = prefix % 8;
  if (memcmp (net, a, full) != 0)
    return 0;
  if (rem)
    {
      unsigned char m = (unsigned char) (0xffu << (8 - rem));
      return (net[full] & m) == (a[full] & m);
    }
  return 1;
}

static int
match_rule (const struct np_rule *r, const struct np_host *h)
{
  if (r->kind != h->kind)
    return 0;
  if (r->kind == NP_NAME)
    return match_name (r->name, r->name_len, h->name, h->name_len);
  return match_addr (r->addr, r->prefix, h->addr);
}

static int
match_list (const struct np_list *l, const struct np_host *h, size_t *index)
{
  size_t i;
  for (i = 0; i < l->n; i++)
    if (match_rule (&l->r[i], h))
      {
        *index = i;
        return 1;
      }
  return 0;
}

int
netpolicy_check (const struct netpolicy *p, const char *host, struct netpolicy_verdict *v)
{
  struct np_host h;
  size_t i;

  v->allowed = 0;
  v->list = 0;
  v->index = 0;
  v->rule = NULL;
  if (p == NULL || host == NULL || parse_host (host, &h) < 0)
    return 0;
  if (match_list (&p->deny, &h, &i))
    {
      v->list = 'd';
      v->index = i;
      v->rule = p->deny.r[i].text;
      return 0;
    }
  if (match_list (&p->allow, &h, &i))
    {
      v->allowed = 1;
      v->list = 'a';
      v->index = i;
      v->rule = p->allow.r[i].text;
    }
  return v->allowed;
}
