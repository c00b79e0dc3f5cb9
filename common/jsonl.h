/* enclaver common helpers: JSON lines (one compact JSON object per line), written
 * without a JSON library so the static runtime programs can use them too. */
#ifndef ENCLAVER_COMMON_JSONL_H
#define ENCLAVER_COMMON_JSONL_H

#include <stddef.h>

#include "common/base.h"
#include "common/strbuf.h"

/* Append the n bytes at s as a quoted JSON string.  '"', '\\', \n, \r and \t get their
 * short escapes, other control bytes and DEL \u00XX; valid UTF-8 is kept as is and
 * each byte that is not part of a valid sequence becomes \ufffd, so the result is
 * always valid JSON. */
void jsonl_string (struct strbuf *sb, const char *s, size_t n) ENCLAVER_INTERNAL;

/* An object being written: jsonl_begin, members in order, jsonl_end ("}\n"). */
struct jsonl
{
  struct strbuf *sb;
  int members;
};
void jsonl_begin (struct jsonl *j, struct strbuf *sb) ENCLAVER_INTERNAL;
/* A string member; val NULL writes nothing. */
void jsonl_str (struct jsonl *j, const char *key, const char *val) ENCLAVER_INTERNAL;
void jsonl_strn (struct jsonl *j, const char *key, const char *val, size_t n) ENCLAVER_INTERNAL;
void jsonl_int (struct jsonl *j, const char *key, long long val) ENCLAVER_INTERNAL;
void jsonl_end (struct jsonl *j) ENCLAVER_INTERNAL;

#endif
