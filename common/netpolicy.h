/* enclaver common helpers: the egress allow/deny policy (ENCLAVER.md section 3).
 *
 * One implementation of the pattern grammar for the manifest's lint (`enclaver
 * manifest`), the in-enclave proxy and the host half that re-checks it.  libc only.
 *
 * Patterns: an IPv4 or IPv6 address or CIDR (brackets allowed around the IPv6 address),
 * or a host name whose labels are matched right to left, case-insensitively, where a
 * label "*" matches exactly one label and a leftmost "**" one or more.  A name without
 * wildcards matches itself only (no subdomains).  An IP host only matches IP patterns,
 * a host name never does.  A deny match wins over an allow match; with an empty allow
 * list everything is denied.  The name "host" (the parent's 127.0.0.1) is an ordinary
 * name here: it must be allowed like any other.  docs/network.md, "Egress policy". */
#ifndef ENCLAVER_COMMON_NETPOLICY_H
#define ENCLAVER_COMMON_NETPOLICY_H

#include <stddef.h>

#include "common/base.h"

struct netpolicy; /* opaque */

struct netpolicy_verdict
{
  int allowed;      /* 1 allow, 0 deny */
  int list;         /* 'a': egress.allow[index], 'd': egress.deny[index], 0: matched nothing */
  size_t index;
  const char *rule; /* the pattern as written (owned by the policy), NULL when list == 0 */
};

/* allow/deny: the pattern strings as in the manifest.  NULL with a message such as
 * "egress.allow[2]: invalid pattern \"x\": why" in err (cut to errlen) on a bad pattern.
 * An empty allow list gives a policy that denies everything. */
struct netpolicy *netpolicy_new (const char *const *allow, size_t nallow,
                                 const char *const *deny, size_t ndeny, char *err,
                                 size_t errlen) ENCLAVER_INTERNAL;

/* host: a host name, an IPv4 address or an IPv6 address with or without [brackets]
 * (the authority of a CONNECT or the Host of a URL, port removed).  Case-insensitive,
 * one trailing dot ignored.  A host that is not a well-formed name or address (empty,
 * an empty label, a label over 63 or a name over 253 bytes, a byte outside letters,
 * digits, '-', '_' and '.') matches nothing and is denied.  Numeric forms a resolver
 * reads as IPv4 ("127.1", "0x7f000001", "2130706433") and IPv4-mapped IPv6 addresses
 * are checked as the IPv4 address they connect to, so a name pattern cannot let them
 * past an IP deny.  Always fills v; returns v->allowed. */
int netpolicy_check (const struct netpolicy *p, const char *host,
                     struct netpolicy_verdict *v) ENCLAVER_INTERNAL;

void netpolicy_free (struct netpolicy *p) ENCLAVER_INTERNAL;

/* Check one pattern (the manifest's lint): 0, or -1 with a message in msg (cut to
 * msglen) and, in *col, the 0-based byte offset in pat the message is about. */
int netpolicy_pattern_check (const char *pat, size_t *col, char *msg,
                             size_t msglen) ENCLAVER_INTERNAL;

#endif
