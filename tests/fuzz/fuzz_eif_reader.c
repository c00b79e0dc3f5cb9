/* enclaver: libFuzzer target for the EIF reader and signature decoder.
 *
 * Build with `make fuzz` (clang -fsanitize=fuzzer,address,undefined); its seeds, a small
 * unsigned and a small signed image (so that it reaches the signature code quickly),
 * are in tests/fuzz/corpus/fuzz_eif_reader, made with
 *   printf K >k; printf R >r; printf R2 >r2
 *   enclaver eif build --kernel k --cmdline console=ttyS0 --ramdisk r --output unsigned.eif
 *   enclaver eif build --kernel k --cmdline console=ttyS0 --ramdisk r --ramdisk r2 --output signed.eif \
 *     --signing-certificate golden/eif/sign-cert.pem --private-key golden/eif/sign-key.pem
 *
 * The input is read as an EIF from memory; every result must be either a clean error
 * or a fully validated image whose fields are consistent with the input size. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <enclaver/eif.h>
#include <enclaver/log.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct enclaver_eif_info info;
  enclaver_error_t err = NULL;

  enclaver_log_set_level (ENCLAVER_LOG_ERROR);
  if (enclaver_eif_read_buffer (data, size, ENCLAVER_EIF_READ_IGNORE_CERT_TIME, &info, &err) < 0)
    {
      if (err == NULL || err->msg == NULL || err->msg[0] == '\0')
        abort (); /* every failure must explain itself */
      enclaver_error_release (&err);
      return 0;
    }
  /* invariants of an accepted image */
  if (info.file_size != size || info.num_sections == 0 || info.num_sections > ENCLAVER_EIF_MAX_SECTIONS)
    abort ();
  for (unsigned i = 0; i < info.num_sections; i++)
    if (info.sections[i].offset + 12 + info.sections[i].size > size || info.sections[i].type == 0
        || info.sections[i].type > 5)
      abort ();
  if (info.is_signed && !info.signature_ok && info.signature_error == NULL)
    abort ();
  (void) enclaver_eif_check (&info, &err);
  enclaver_error_release (&err);
  if (info.cert_pem)
    {
      char *j = enclaver_eif_cert_info_json (info.cert_pem, info.cert_pem_len, &err);
      free (j);
      enclaver_error_release (&err);
    }
  enclaver_eif_info_clear (&info);
  return 0;
}
