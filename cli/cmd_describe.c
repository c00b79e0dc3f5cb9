/* enclaver CLI: `enclaver describe FILE.eif`: nitro-cli describe-eif compatible JSON. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <enclaver/eif.h>
#include <enclaver/log.h>
#include "cli/commands.h"
#include "cli/eif-common.h"
#include "util.h"

static const char describe_help[] =
  "Usage: enclaver describe FILE.eif [--sections]\n"
  "\n"
  "Read and validate an EIF and print what it contains as JSON, with the field names of\n"
  "nitro-cli describe-eif:\n"
  "  EifVersion          header format version\n"
  "  Measurements        {HashAlgorithm, PCR0, PCR1, PCR2, PCR8 (signed only)}\n"
  "  IsSigned            whether a signature section exists\n"
  "  SigningCertificate  {IssuerName, Algorithm, NotBefore, NotAfter, Signature} (signed)\n"
  "  CheckCRC            the stored CRC-32 matches the content\n"
  "  SignatureCheck      (signed) the COSE_Sign1 signature verifies with the embedded\n"
  "                      certificate, the signed payload is this image's PCR0 and the\n"
  "                      certificate is currently valid\n"
  "  ImageName, ImageVersion, Metadata\n"
  "                      from the metadata section; Metadata holds BuildTime, BuildTool,\n"
  "                      BuildToolVersion, OperatingSystem, KernelVersion, DockerInfo and\n"
  "                      the keys of CustomMetadata merged in (when it is an object)\n"
  "\n"
  "The reader checks the header (magic, version 2..4, flags, section count), walks the\n"
  "section offset table and the sections sequentially and requires both to agree, and\n"
  "rejects invalid section types, sizes or offsets outside the file, overlaps, trailing\n"
  "bytes, missing kernel/cmdline/ramdisk/metadata sections and oversized signatures.\n"
  "\n"
  "Options:\n"
  "      --sections          also print the header and the section table (\"Header\",\n"
  "                          \"Sections\": index, type, offset of the section header, size)\n"
  "      --ignore-cert-time  do not check the certificate validity period\n"
  "  -h, --help              show this help\n" CLI_COMMON_HELP
  "\n"
  "Exit status: 0 valid; 1 unreadable or malformed file, CRC mismatch or bad signature\n"
  "(the JSON is still printed when the structure could be read); 2 usage.\n";

static json_t *
metadata_describe (const struct enclaver_eif_info *info, json_t **name, json_t **version)
{
  json_t *md = json_loadb (info->metadata, info->metadata_len, 0, NULL);
  json_t *out, *bm, *v;
  static const char *const keys[] = { "BuildTime", "BuildTool", "BuildToolVersion", "OperatingSystem",
                                      "KernelVersion" };

  *name = *version = NULL;
  if (md == NULL)
    return NULL;
  if ((v = json_object_get (md, "ImageName")))
    *name = json_incref (v);
  if ((v = json_object_get (md, "ImageVersion")))
    *version = json_incref (v);
  out = json_object ();
  bm = json_object_get (md, "BuildMetadata");
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    if (json_is_object (bm) && (v = json_object_get (bm, keys[i])))
      json_object_set (out, keys[i], v);
  v = json_object_get (md, "DockerInfo");
  json_object_set (out, "DockerInfo", v ? v : json_null ());
  v = json_object_get (md, "CustomMetadata");
  if (json_is_object (v))
    {
      const char *k;
      json_t *item;
      json_object_foreach (v, k, item)
        json_object_set (out, k, item);
    }
  else if (v && !json_is_null (v))
    json_object_set (out, "CustomMetadata", v);
  json_decref (md);
  return out;
}

static json_t *
describe_json (const struct enclaver_eif_info *info, int sections)
{
  json_t *o = json_object ();
  json_t *name = NULL, *version = NULL, *md = NULL;

  json_object_set_new (o, "EifVersion", json_integer (info->version));
  json_object_set_new (o, "Measurements", measurements_json (&info->measurements));
  json_object_set_new (o, "IsSigned", json_boolean (info->is_signed));
  if (info->is_signed && info->cert_pem)
    {
      enclaver_error_t err = NULL;
      cleanup_free char *cj = enclaver_eif_cert_info_json (info->cert_pem, info->cert_pem_len, &err);
      if (cj)
        json_object_set_new (o, "SigningCertificate", json_loads (cj, 0, NULL));
      else
        enclaver_error_warn_and_release (&err, "signing certificate");
    }
  json_object_set_new (o, "CheckCRC", json_boolean (info->crc_ok));
  if (info->is_signed)
    json_object_set_new (o, "SignatureCheck", json_boolean (info->signature_ok));
  if (info->metadata)
    md = metadata_describe (info, &name, &version);
  if (name)
    json_object_set_new (o, "ImageName", name);
  if (version)
    json_object_set_new (o, "ImageVersion", version);
  if (md)
    json_object_set_new (o, "Metadata", md);
  if (sections)
    {
      json_t *h = json_object (), *a = json_array ();
      char crc[16];
      json_object_set_new (h, "Version", json_integer (info->version));
      json_object_set_new (h, "Flags", json_integer (info->flags));
      json_object_set_new (h, "Arch", json_string (enclaver_eif_arch_name (info->flags & 1)));
      json_object_set_new (h, "DefaultMem", json_integer ((json_int_t) info->default_mem));
      json_object_set_new (h, "DefaultCpus", json_integer ((json_int_t) info->default_cpus));
      json_object_set_new (h, "NumSections", json_integer (info->num_sections));
      snprintf (crc, sizeof crc, "0x%08x", info->crc_stored);
      json_object_set_new (h, "CRC32", json_string (crc));
      json_object_set_new (h, "FileSize", json_integer ((json_int_t) info->file_size));
      json_object_set_new (o, "Header", h);
      for (unsigned i = 0; i < info->num_sections; i++)
        {
          json_t *s = json_object ();
          json_object_set_new (s, "Index", json_integer (i));
          json_object_set_new (s, "Type", json_string (enclaver_eif_section_type_name (info->sections[i].type)));
          json_object_set_new (s, "Offset", json_integer ((json_int_t) info->sections[i].offset));
          json_object_set_new (s, "Size", json_integer ((json_int_t) info->sections[i].size));
          json_array_append_new (a, s);
        }
      json_object_set_new (o, "Sections", a);
    }
  return o;
}

int
cmd_describe (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "sections", no_argument, NULL, OPT_SECTIONS },
    { "ignore-cert-time", no_argument, NULL, OPT_IGNORE_CERT_TIME },
    CLI_COMMON_LONGOPTS,
    { NULL, 0, NULL, 0 },
  };
  const char *cmd = "describe", *file = NULL;
  struct enclaver_eif_info info;
  enclaver_error_t err = NULL;
  unsigned flags = 0;
  int sections = 0, c, rc;
  json_t *j;

  optind = 0;
  while ((c = cli_getopt (argc, argv, "h" CLI_COMMON_SHORTOPTS, longopts)) != -1)
    {
      int r = common_opt (cmd, c, describe_help);
      if (r >= 1000)
        return r - 1000;
      if (r == 0)
        continue;
      if (c == OPT_SECTIONS)
        sections = 1;
      else if (c == OPT_IGNORE_CERT_TIME)
        flags |= ENCLAVER_EIF_READ_IGNORE_CERT_TIME;
      else
        return cli_usage_error (cmd, "invalid option");
    }
  if ((rc = one_file_arg (cmd, argc, argv, &file)) != 0)
    return rc;
  if (enclaver_eif_read (file, flags, &info, &err) < 0)
    return cli_fail (&err);
  j = describe_json (&info, sections);
  print_json (j);
  json_decref (j);
  rc = EXIT_OK;
  if (enclaver_eif_check (&info, &err) < 0)
    {
      enclaver_error_wrap (&err, "%s", file);
      rc = cli_fail (&err);
    }
  enclaver_eif_info_clear (&info);
  return rc;
}

