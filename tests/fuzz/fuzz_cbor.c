/* enclaver: libFuzzer target for the CBOR decoder (common/cbor.c, RFC 8949 subset): the
 * cursor functions every CBOR reader of enclaver is built on (the NSM client, the
 * attestation verifier's COSE_Sign1, the EIF signature).
 *
 * The input is one CBOR item.  It is skipped whole (with and without the
 * minimal-encoding rule) and walked item by item with the typed getters; the cursor
 * must never move past the end, and whatever a strict skip accepts a typed walk must
 * also get through, to the same offset. */
#include "config.h"

#include "common/cbor.h"

#include "fuzz.h"

/* Walk one item with the typed getters; 0, or -1 on a decoding error. */
static int
walk (struct cbor_cur *c, int depth, char *err, size_t errlen)
{
  const uint8_t *p;
  const char *s;
  size_t n;
  uint64_t cnt, v;
  int64_t i;
  unsigned simple;
  size_t before = c->pos;
  int major = ecbor_peek_major (c);

  if (depth > CBOR_MAX_DEPTH)
    return ecbor_skip (c, depth, err, errlen);
  switch (major)
    {
    case CBOR_UINT:
      if (ecbor_get_uint (c, UINT64_MAX, &v, err, errlen) < 0)
        return -1;
      break;
    case CBOR_NINT:
      if (ecbor_get_int (c, &i, err, errlen) < 0)
        /* below INT64_MIN: a valid item the getter refuses */
        return ecbor_skip (c, depth, err, errlen);
      FUZZ_CHECK (i < 0);
      break;
    case CBOR_BSTR:
      if (ecbor_get_bstr (c, &p, &n, err, errlen) < 0)
        return -1;
      break;
    case CBOR_TSTR:
      if (ecbor_get_tstr (c, &s, &n, err, errlen) < 0)
        return -1;
      FUZZ_CHECK (ecbor_utf8_valid ((const uint8_t *) s, n));
      break;
    case CBOR_ARRAY:
    case CBOR_MAP:
      if (ecbor_get_container (c, (unsigned) major, &cnt, err, errlen) < 0)
        return -1;
      FUZZ_CHECK (cnt <= c->len - c->pos); /* bounded by the input, as the allocations rely on */
      for (uint64_t k = 0; k < cnt * (major == CBOR_MAP ? 2 : 1); k++)
        if (walk (c, depth + 1, err, errlen) < 0)
          return -1;
      break;
    case CBOR_SIMPLE:
      if (ecbor_get_simple (c, &simple, err, errlen) < 0)
        /* floats and other simple values: valid, not what the getter reads */
        return ecbor_skip (c, depth, err, errlen);
      FUZZ_CHECK (simple >= 20 && simple <= 23);
      break;
    default:
      return ecbor_skip (c, depth, err, errlen);
    }
  FUZZ_CHECK (c->pos > before && c->pos <= c->len);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char err[256];
  for (int minimal = 0; minimal <= 1; minimal++)
    {
      struct cbor_cur c = { .p = data, .len = size, .what = "fuzz", .minimal = minimal };
      err[0] = '\0';
      int skipped = ecbor_skip (&c, 0, err, sizeof err) == 0;
      FUZZ_CHECK (c.pos <= size);
      if (!skipped)
        FUZZ_CHECK (err[0] != '\0');
      size_t skip_len = c.pos;

      struct cbor_cur w = { .p = data, .len = size, .what = "fuzz", .minimal = minimal };
      int walked = walk (&w, 0, err, sizeof err) == 0;
      FUZZ_CHECK (w.pos <= size);
      if (skipped)
        {
          if (!walked)
            {
              fprintf (stderr, "skip accepted %zu bytes the typed walk refused: %s\n", skip_len, err);
              abort ();
            }
          FUZZ_CHECK (w.pos == skip_len);
          (void) ecbor_expect_end (&w, err, sizeof err);
        }
    }
  return 0;
}
