/* enclaver tests: the egress policy (common/netpolicy.c, ENCLAVER.md section 3) from a
 * table.  Each row is a policy (allow and deny lists, patterns separated by spaces), a
 * host as the proxy gets it, and the verdict: "a:N" allowed by allow[N], "d:N" denied
 * by deny[N], "-" denied because nothing matched.  The verdict's rule text is checked
 * too, after the caller's pattern strings were freed (the policy owns its copies).
 * Then the bad patterns: netpolicy_new's messages, and netpolicy_pattern_check's
 * messages with the byte offset they point at. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "common/netpolicy.h"

struct row
{
  const char *allow, *deny, *host, *want;
};

#define L63 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define L64 L63 "a"
#define N55 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define N57 N55 "aa"
#define NAME253 N57 "." L63 "." L63 "." L63 ".com" /* 57+1+63+1+63+1+63+4 = 253 */

static const struct row rows[] = {
  /* labels right to left, case-insensitive, both ways */
  { "api.example.com", "", "api.example.com", "a:0" },
  { "api.example.com", "", "API.Example.COM", "a:0" },
  { "Api.EXAMPLE.com", "", "api.example.com", "a:0" },
  { "api.example.com", "", "api.example.org", "-" },
  { "api.example.com", "", "api.example", "-" },
  { "api.example.com", "", "xapi.example.com", "-" },
  { "api.example.com", "", "api.xexample.com", "-" },
  { "api.example.com", "", "api-example.com", "-" },
  /* a name without wildcards matches exactly: no subdomains, no parent */
  { "example.com", "", "example.com", "a:0" },
  { "example.com", "", "www.example.com", "-" },
  { "example.com", "", "a.b.example.com", "-" },
  { "example.com", "", "com", "-" },
  { "example.com", "", "example.com.evil.net", "-" },
  { "localhost", "", "localhost", "a:0" },
  { "localhost", "", "localhost.localdomain", "-" },
  /* one trailing dot ignored, no more */
  { "example.com", "", "example.com.", "a:0" },
  { "example.com", "", "example.com..", "-" },
  { "example.com", "", ".example.com", "-" },
  /* "*" is exactly one label, wherever it stands */
  { "*.com", "", "example.com", "a:0" },
  { "*.com", "", "EXAMPLE.COM", "a:0" },
  { "*.com", "", "a.b.com", "-" },
  { "*.com", "", "com", "-" },
  { "*.com", "", "example.co", "-" },
  { "*.example.com", "", "a.example.com", "a:0" },
  { "*.example.com", "", "example.com", "-" },
  { "*.example.com", "", "a.b.example.com", "-" },
  { "*.*.example.com", "", "a.b.example.com", "a:0" },
  { "*.*.example.com", "", "a.example.com", "-" },
  { "*.*.example.com", "", "a.b.c.example.com", "-" },
  { "api.*.example.com", "", "api.eu.example.com", "a:0" },
  { "api.*.example.com", "", "api.eu.west.example.com", "-" },
  { "api.*.example.com", "", "web.eu.example.com", "-" },
  { "api.*.example.com", "", "api.example.com", "-" },
  { "example.*", "", "example.org", "a:0" },
  { "example.*", "", "example.co.uk", "-" },
  { "example.*", "", "www.example.org", "-" },
  { "*", "", "localhost", "a:0" },
  { "*", "", "a.b", "-" },
  { "*", "", "10.0.0.1", "-" },
  /* "**" is one or more labels */
  { "**.amazonaws.com", "", "kms.us-east-1.amazonaws.com", "a:0" },
  { "**.amazonaws.com", "", "s3.amazonaws.com", "a:0" },
  { "**.amazonaws.com", "", "a.b.c.d.e.amazonaws.com", "a:0" },
  { "**.amazonaws.com", "", "KMS.AmazonAWS.Com.", "a:0" },
  { "**.amazonaws.com", "", "amazonaws.com", "-" },
  { "**.amazonaws.com", "", "evilamazonaws.com", "-" },
  { "**.amazonaws.com", "", "amazonaws.com.evil.net", "-" },
  { "**.amazonaws.com", "", "kms.amazonaws.co", "-" },
  { "**.*.com", "", "a.b.com", "a:0" },
  { "**.*.com", "", "a.b.c.com", "a:0" },
  { "**.*.com", "", "b.com", "-" },
  { "**", "", "a", "a:0" },
  { "**", "", "a.b.c.d", "a:0" },
  { "**", "", NAME253, "a:0" },
  { "**", "", "1.2.3.4", "-" },
  { "**", "", "::1", "-" },
  /* "*" against "**": the same suffix, one label or many */
  { "*.example.net **.example.org", "", "a.b.example.net", "-" },
  { "*.example.net **.example.org", "", "a.b.example.org", "a:1" },
  /* IPv4 addresses and CIDRs */
  { "192.168.1.1", "", "192.168.1.1", "a:0" },
  { "192.168.1.1", "", "192.168.1.10", "-" },
  { "192.168.1.1", "", "192.168.1.1.", "a:0" },
  { "192.168.1.1/32", "", "192.168.1.1", "a:0" },
  { "192.168.1.1/32", "", "192.168.1.2", "-" },
  { "10.0.0.0/8", "", "10.0.0.0", "a:0" },
  { "10.0.0.0/8", "", "10.1.2.3", "a:0" },
  { "10.0.0.0/8", "", "10.255.255.255", "a:0" },
  { "10.0.0.0/8", "", "11.0.0.0", "-" },
  { "10.0.0.0/8", "", "9.255.255.255", "-" },
  { "10.0.0.1/8", "", "10.9.9.9", "a:0" },
  { "172.16.0.0/12", "", "172.31.255.255", "a:0" },
  { "172.16.0.0/12", "", "172.32.0.0", "-" },
  { "172.16.0.0/12", "", "172.15.255.255", "-" },
  { "0.0.0.0/0", "", "1.2.3.4", "a:0" },
  { "0.0.0.0/0", "", "255.255.255.255", "a:0" },
  { "0.0.0.0/0", "", "::1", "-" },
  { "0.0.0.0/0", "", "example.com", "-" },
  /* IPv6 addresses and CIDRs, with and without brackets, any spelling */
  { "2001:db8::/32", "", "2001:db8::1", "a:0" },
  { "2001:db8::/32", "", "[2001:db8::1]", "a:0" },
  { "2001:db8::/32", "", "2001:DB8:FFFF::1", "a:0" },
  { "2001:db8::/32", "", "2001:db9::1", "-" },
  { "2001:db8::/32", "", "10.0.0.1", "-" },
  { "2001:db8::/33", "", "2001:db8:7fff::1", "a:0" },
  { "2001:db8::/33", "", "2001:db8:8000::1", "-" },
  { "[2001:db8::]/48", "", "2001:db8:0:ffff::1", "a:0" },
  { "[2001:db8::]/48", "", "2001:db8:1::1", "-" },
  { "::/0", "", "::1", "a:0" },
  { "::/0", "", "[fe80::1]", "a:0" },
  { "::/0", "", "1.2.3.4", "-" },
  { "::/0", "", "example.com", "-" },
  { "::1/128", "", "::1", "a:0" },
  { "::1/128", "", "[::1]", "a:0" },
  { "::1/128", "", "0:0:0:0:0:0:0:1", "a:0" },
  { "::1/128", "", "::2", "-" },
  { "[::1]", "", "::1", "a:0" },
  { "fe80::1", "", "FE80::1", "a:0" },
  { "fe80::1", "", "fe80::2", "-" },
  { "fe80::1", "", "[fe80::1", "-" },
  { "fe80::1", "", "fe80::1%eth0", "-" },
  /* an IP host only matches IP patterns; a name never matches one */
  { "*.*.*.* **", "", "10.1.2.3", "-" },
  { "10.0.0.0/8", "", "10.example", "-" },
  { "10.0.0.0/8", "", "10.0.0.1.example.com", "-" },
  { "127.0.0.1", "", "localhost", "-" },
  /* numeric forms a resolver reads as IPv4, and IPv4-mapped IPv6, are that address */
  { "** 0.0.0.0/0", "127.0.0.0/8", "127.0.0.1", "d:0" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "127.1", "d:0" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "2130706433", "d:0" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "0x7f000001", "d:0" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "0X7F.0.0.1", "d:0" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "0177.0.0.1", "d:0" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "::ffff:127.0.0.1", "d:0" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "[::ffff:7f00:1]", "d:0" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "8.8.8.8", "a:1" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "::ffff:8.8.8.8", "a:1" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "example.com", "a:0" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "1.2.3.4.5", "-" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "256.1.1.1", "-" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "0x100.0.0.1", "-" },
  { "** 0.0.0.0/0", "127.0.0.0/8", "089.0.0.1", "-" },
  { "::/0", "", "::ffff:1.2.3.4", "-" },
  /* deny wins over allow, and names the deny rule */
  { "**.example.com", "secret.example.com", "secret.example.com", "d:0" },
  { "**.example.com", "secret.example.com", "SECRET.Example.com.", "d:0" },
  { "**.example.com", "secret.example.com", "public.example.com", "a:0" },
  { "**.example.com", "secret.example.com", "a.secret.example.com", "a:0" },
  { "secret.example.com", "secret.example.com", "secret.example.com", "d:0" },
  { "0.0.0.0/0", "10.0.0.0/8 169.254.169.254", "169.254.169.254", "d:1" },
  { "0.0.0.0/0", "10.0.0.0/8 169.254.169.254", "10.0.0.5", "d:0" },
  { "0.0.0.0/0", "10.0.0.0/8 169.254.169.254", "11.0.0.1", "a:0" },
  { "::/0", "fd00::/8", "fdab::1", "d:0" },
  { "::/0", "fd00::/8", "fe80::1", "a:0" },
  { "**", "*.internal *.example.com", "a.example.com", "d:1" },
  { "**", "*.internal *.example.com", "db.internal", "d:0" },
  { "**", "*.internal *.example.com", "a.b.internal", "a:0" },
  /* the first matching rule is the one reported */
  { "a.com b.com *.com", "", "b.com", "a:1" },
  { "a.com b.com *.com", "", "c.com", "a:2" },
  { "a.com b.com *.com", "", "a.b.com", "-" },
  /* an empty allow list denies everything */
  { "", "", "example.com", "-" },
  { "", "", "1.2.3.4", "-" },
  { "", "", "host", "-" },
  { "", "example.com", "example.com", "d:0" },
  { "", "example.com", "other.com", "-" },
  /* "host" (the parent's 127.0.0.1) is an ordinary name: it must be allowed */
  { "example.com", "", "host", "-" },
  { "host", "", "host", "a:0" },
  { "host", "", "HOST", "a:0" },
  { "host", "", "host.", "a:0" },
  { "host", "", "myhost", "-" },
  { "host", "", "host.example.com", "-" },
  { "host", "", "127.0.0.1", "-" },
  { "**.example.com", "", "host", "-" },
  { "*", "host", "host", "d:0" },
  /* hosts that are neither a name nor an address match nothing */
  { "**", "", "", "-" },
  { "**", "", ".", "-" },
  { "**", "", "a..b.com", "-" },
  { "**", "", "exa mple.com", "-" },
  { "**", "", "example.com:443", "-" },
  { "**", "", "ex!ample.com", "-" },
  { "**", "", "b\xc3\xbc" "cher.example", "-" },
  { "**", "", L64 ".com", "-" },
  { "**", "", L63 ".com", "a:0" },
  { "**", "", "x" NAME253, "-" },
  { "**", "", "[example.com]", "-" },
  { "**", "", "[]", "-" },
  { "*.example", "", "xn--bcher-kva.example", "a:0" },
  { "*.example", "", "under_score.example", "a:0" },
};

/* "a b c" -> a malloc'd array of malloc'd strings */
static char **
split (const char *s, size_t *n)
{
  char **v = calloc (16, sizeof *v);
  const char *p = s;
  *n = 0;
  while (*p)
    {
      const char *e = strchr (p, ' ');
      size_t l = e ? (size_t) (e - p) : strlen (p);
      v[(*n)++] = strndup (p, l);
      if (!e)
        break;
      p = e + 1;
    }
  return v;
}

static void
free_list (char **v, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

static void
test_table (void)
{
  size_t r;
  for (r = 0; r < ARRAY_SIZE (rows); r++)
    {
      const struct row *w = &rows[r];
      size_t na, nd, idx = 0;
      char **a = split (w->allow, &na), **d = split (w->deny, &nd);
      char err[256], want_rule[300] = "";
      struct netpolicy *p = netpolicy_new ((const char *const *) a, na,
                                           (const char *const *) d, nd, err, sizeof err);
      struct netpolicy_verdict v;
      int want_list = w->want[0] == '-' ? 0 : w->want[0], ok, ret;
      const char *shown = strlen (w->host) > 40 ? "(a long name)" : w->host;

      if (want_list)
        {
          idx = strtoul (w->want + 2, NULL, 10);
          snprintf (want_rule, sizeof want_rule, "%s", want_list == 'a' ? a[idx] : d[idx]);
        }
      free_list (a, na);
      free_list (d, nd);
      if (!p)
        {
          tap_ok (0, "allow [%s] deny [%s]: policy built (%s)", w->allow, w->deny, err);
          continue;
        }
      memset (&v, 0x5a, sizeof v);
      ret = netpolicy_check (p, w->host, &v);
      ok = ret == v.allowed && v.allowed == (want_list == 'a') && v.list == want_list
           && (want_list ? v.index == idx && v.rule && strcmp (v.rule, want_rule) == 0
                         : v.rule == NULL);
      if (!tap_ok (ok, "allow [%s] deny [%s]: %s -> %s", w->allow, w->deny, shown, w->want))
        tap_diag ("got allowed=%d list=%c index=%zu rule=%s", v.allowed, v.list ? v.list : '-',
                  v.index, v.rule ? v.rule : "(null)");
      netpolicy_free (p);
    }
}

struct bad
{
  const char *allow, *deny, *err;
};

static const struct bad bads[] = {
  { "a.com **.b.**.c", "",
    "egress.allow[1]: invalid pattern \"**.b.**.c\": \"**\" must be the leftmost label "
    "(labels left of it would be ignored)" },
  { "a.**", "", "egress.allow[0]: invalid pattern \"a.**\": \"**\" must be the leftmost label" },
  { "a.com", "b.com 10.0.0.0/33",
    "egress.deny[1]: invalid pattern \"10.0.0.0/33\": CIDR prefix length 33 out of range for "
    "IPv4 (0..32)" },
  { "::/129", "", "egress.allow[0]: invalid pattern \"::/129\": CIDR prefix length 129 out of "
                  "range for IPv6 (0..128)" },
  { "10.0.0.0/", "", "egress.allow[0]: invalid pattern \"10.0.0.0/\": invalid CIDR prefix "
                     "length \"\"" },
  { "10.0.0.0/-1", "", "invalid CIDR prefix length \"-1\"" },
  { "example.com:443", "",
    "egress.allow[0]: invalid pattern \"example.com:443\": ports are not part of egress "
    "patterns (drop \":443\")" },
  { "[::1]:8443", "", "ports are not part of egress patterns (drop \":8443\")" },
  { "::ffff:10.0.0.1", "", "IPv4-mapped IPv6 addresses are not supported" },
  { "[::ffff:a00:1]/104", "", "IPv4-mapped IPv6 addresses are not supported" },
  { "2001:db8:::1", "", "invalid IPv6 address" },
  { "[1.2.3.4]", "", "invalid IPv6 address in brackets" },
  { "256.1.1.1", "", "invalid IPv4 address" },
  { "1.2.3", "", "invalid IPv4 address" },
  { "a.*b.com", "", "\"*\" must be a whole label (\"*\" or \"**\")" },
  { "***.com", "", "\"*\" must be a whole label" },
  { "10.0.0.*", "", "wildcards match host names, never IP addresses; write a CIDR such as "
                    "10.0.0.0/24" },
  { "10.*.*.*", "", "write a CIDR such as 10.0.0.0/8" },
  { "*.0.0.1", "", "wildcards match host names, never IP addresses; write a CIDR "
                   "(ADDRESS/PREFIX)" },
  { "2001:db8::*", "", "wildcards do not work in IP addresses" },
  { "x.1", "", "looks like a malformed IP address" },
  { "", "", "egress.allow[0]: invalid pattern \"\": empty pattern" },
  { "b\xc3\xbc" "cher.example", "", "invalid pattern \"b\\xc3\\xbccher.example\": non-ASCII "
                                    "character in a label: write the name's IDNA form" },
  { "https://example.com", "", "a URL, not a host name (drop the scheme)" },
  { L64 ".com", "", "label longer than 63 characters" },
  { "x" NAME253, "", "longer than 253 characters" },
  { "a..b", "", "empty label" },
  { ".a", "", "empty label (leading dot)" },
  { "a.", "", "empty label (trailing dot)" },
  { "-a.com", "", "a label must not start or end with '-'" },
  { "a/b", "", "\"/\" is only allowed in CIDRs" },
  { "ok.com", "a\"b", "egress.deny[0]: invalid pattern \"a\\\"b\": invalid character '\"' in a "
                      "label" },
};

static void
test_bad_patterns (void)
{
  size_t r;
  for (r = 0; r < ARRAY_SIZE (bads); r++)
    {
      const struct bad *b = &bads[r];
      size_t na, nd;
      char **a = split (b->allow, &na), **d = split (b->deny, &nd);
      char err[512];
      struct netpolicy *p;
      if (*b->allow == '\0' && strstr (b->err, "empty pattern"))
        {
          /* split("") is no pattern at all: give one empty string */
          free (a);
          a = calloc (1, sizeof *a);
          a[0] = strdup ("");
          na = 1;
        }
      p = netpolicy_new ((const char *const *) a, na, (const char *const *) d, nd, err,
                         sizeof err);
      if (!tap_ok (p == NULL && strstr (err, b->err) != NULL, "bad pattern: [%s] [%s] refused: %s",
                   b->allow, b->deny, b->err))
        tap_diag ("got %s: %s", p ? "a policy" : "NULL", err);
      netpolicy_free (p);
      free_list (a, na);
      free_list (d, nd);
    }
}

struct colcase
{
  const char *pat;
  long col; /* -1: valid */
  const char *msg;
};

static const struct colcase cols[] = {
  { "**.amazonaws.com", -1, NULL },
  { "*", -1, NULL },
  { "**", -1, NULL },
  { "host", -1, NULL },
  { "*.host", -1, NULL },
  { "Example.COM", -1, NULL },
  { NAME253, -1, NULL },
  /* 254 bytes, but "**" stands for one byte at least: the shortest match is 253 */
  { "**." N55 "." L63 "." L63 "." L63 ".com", -1, NULL },
  { "[::1]/128", -1, NULL },
  { "0.0.0.0/0", -1, NULL },
  { "::/0", -1, NULL },
  { "fe80::1", -1, NULL },
  { "a..b", 2, "empty label" },
  { "a.**.b", 2, "\"**\" must be the leftmost label" },
  { "10.0.0.0/33", 9, "out of range" },
  { "1.2.3.4/x", 8, "invalid CIDR prefix length" },
  { "example.com:443", 11, "ports are not part" },
  { "[::1]:443", 5, "ports are not part" },
  { "api*.x.com", 3, "\"*\" must be a whole label" },
  { "x.-a.com", 2, "must not start or end with '-'" },
  { "x.a-.com", 3, "must not start or end with '-'" },
  { "a." L64 ".com", 2, "label longer than 63" },
  { "ex!ample.com", 2, "invalid character '!'" },
  { "example.com.", 11, "trailing dot" },
  { ".a", 0, "leading dot" },
  { "a b", 1, "whitespace" },
  { "a\tb", 1, "control" },
  { "a/b", 1, "only allowed in CIDRs" },
  { "[::g]", 1, "invalid IPv6 address in brackets" },
  { "10.*.*.*", 3, "never IP addresses" },
  { "2001:db8::*", 10, "wildcards do not work" },
  { "x.b\xc3\xbc", 3, "non-ASCII" },
  { "x.123", 2, "malformed IP" },
  { "x" NAME253, 253, "longer than 253" },
  { "**.x" NAME253, 253, "longer than 253" },
  { "", 0, "empty pattern" },
};

static void
test_pattern_check (void)
{
  size_t r;
  for (r = 0; r < ARRAY_SIZE (cols); r++)
    {
      const struct colcase *c = &cols[r];
      char msg[256] = "";
      size_t col = 9999;
      int rc = netpolicy_pattern_check (c->pat, &col, msg, sizeof msg);
      const char *shown = strlen (c->pat) > 40 ? "(a long pattern)" : c->pat;
      if (c->col < 0)
        {
          if (!tap_ok (rc == 0, "pattern %s is valid", shown))
            tap_diag ("got: %s (at %zu)", msg, col);
        }
      else if (!tap_ok (rc == -1 && col == (size_t) c->col && strstr (msg, c->msg),
                        "pattern %s: at %ld: %s", shown, c->col, c->msg))
        tap_diag ("got rc=%d at %zu: %s", rc, col, msg);
    }
  /* a message cut to the caller's buffer is still a string */
  {
    char small[8];
    size_t col;
    tap_ok (netpolicy_pattern_check ("a..b", &col, small, sizeof small) == -1
                && strlen (small) == sizeof small - 1,
            "a message is cut to the buffer");
  }
}

static void
test_edges (void)
{
  struct netpolicy_verdict v;
  const char *allow[] = { "**" };
  struct netpolicy *p = netpolicy_new (allow, 1, NULL, 0, NULL, 0);
  char *huge = malloc (100001);

  memset (huge, 'a', 100000);
  huge[100000] = '\0';
  tap_ok (p != NULL, "a policy without deny list and without an error buffer");
  tap_ok (netpolicy_check (p, NULL, &v) == 0 && v.list == 0 && v.rule == NULL,
          "a NULL host is denied");
  tap_ok (netpolicy_check (NULL, "example.com", &v) == 0 && v.list == 0, "no policy denies");
  tap_ok (netpolicy_check (p, huge, &v) == 0 && v.list == 0, "a 100,000-byte host is denied");
  tap_ok (netpolicy_check (p, "example.com", &v) == 1 && v.list == 'a' && v.index == 0
              && strcmp (v.rule, "**") == 0,
          "the same policy still allows a name");
  netpolicy_free (p);
  netpolicy_free (NULL);
  p = netpolicy_new (NULL, 0, NULL, 0, NULL, 0);
  tap_ok (p != NULL && netpolicy_check (p, "example.com", &v) == 0 && v.list == 0,
          "no lists at all: a policy that denies everything");
  netpolicy_free (p);
  {
    char err[64];
    const char *bad[] = { NULL };
    p = netpolicy_new (bad, 1, NULL, 0, err, sizeof err);
    tap_ok (p == NULL && strstr (err, "egress.allow[0]") && strstr (err, "empty pattern"),
            "a NULL pattern is an empty pattern (%s)", err);
    p = netpolicy_new (NULL, 2, NULL, 0, err, sizeof err);
    tap_ok (p == NULL && strstr (err, "egress.allow"), "a count without a list is refused");
  }
  free (huge);
}

int
main (void)
{
  test_table ();
  test_bad_patterns ();
  test_pattern_check ();
  test_edges ();
  return tap_done ();
}
