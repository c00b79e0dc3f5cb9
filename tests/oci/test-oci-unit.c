/* Unit tests: reference grammar, platforms and index selection, WWW-Authenticate
 * parsing, document classification, base64. */
#include "config.h"
#include <string.h>
#include "oci/oci.h"
#include "tests/tap.h"

static void
ref_ok (const char *src, const char *canonical, const char *api_host)
{
  enclaver_error_t err = NULL;
  struct enclaver_image_ref *r = enclaver_image_ref_parse (src, &err);
  if (!tap_ok (r != NULL, "parse '%s'", src))
    {
      tap_diag ("  %s", err ? err->msg : "?");
      enclaver_error_release (&err);
      return;
    }
  char *s = enclaver_image_ref_string (r);
  TAP_STR_EQ (s, canonical, "'%s' -> %s", src, canonical);
  if (api_host)
    TAP_STR_EQ (r->api_host, api_host, "'%s' API host", src);
  free (s);
  enclaver_image_ref_free (r);
}

static void
ref_bad (const char *src, const char *needle)
{
  enclaver_error_t err = NULL;
  struct enclaver_image_ref *r = enclaver_image_ref_parse (src, &err);
  tap_ok (r == NULL, "reject '%s'", src);
  if (err)
    TAP_CONTAINS (err->msg, needle, "'%s' error says '%s'", src, needle);
  else
    tap_ok (0, "'%s' error says '%s'", src, needle);
  enclaver_error_release (&err);
  enclaver_image_ref_free (r);
}

static void
test_refs (void)
{
  const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char buf[300];
  ref_ok ("nginx", "docker.io/library/nginx:latest", "registry-1.docker.io");
  ref_ok ("nginx:1.27", "docker.io/library/nginx:1.27", NULL);
  ref_ok ("docker://nginx", "docker.io/library/nginx:latest", NULL);
  ref_ok ("library/nginx", "docker.io/library/nginx:latest", NULL);
  ref_ok ("index.docker.io/foo/bar:v1", "docker.io/foo/bar:v1", "registry-1.docker.io");
  ref_ok ("user/app", "docker.io/user/app:latest", NULL);
  ref_ok ("localhost:5000/app:tag", "localhost:5000/app:tag", "localhost:5000");
  ref_ok ("localhost/app", "localhost/app:latest", "localhost");
  ref_ok ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000/a/b/c:latest", NULL);
  ref_ok ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000");
  ref_ok ("ghcr.io/org/my_app-x.y:v1.2_3", "ghcr.io/org/my_app-x.y:v1.2_3", "ghcr.io");
  ref_ok ("a__b/c---d", "docker.io/a__b/c---d:latest", NULL);
  snprintf (buf, sizeof buf, "ghcr.io/org/app@%s", d);
  char want[300];
  snprintf (want, sizeof want, "ghcr.io/org/app@%s", d);
  ref_ok (buf, want, NULL);
  snprintf (buf, sizeof buf, "nginx:1.27@%s", d);
  snprintf (want, sizeof want, "docker.io/library/nginx:1.27@%s", d);
  ref_ok (buf, want, NULL);
  ref_ok ("oci:/some/dir", "oci:/some/dir", NULL);
  ref_ok ("oci:/some/dir:tag", "oci:/some/dir:tag", NULL);
  ref_ok ("oci-archive:x.tar:@2", "oci-archive:x.tar:@2", NULL);
  ref_ok ("docker-archive:x.tar:busybox:latest", "docker-archive:x.tar:busybox:latest", NULL);
  /* docker-daemon: asks the Engine for NAME with the tag made explicit; dir: is one path. */
  ref_ok ("docker-daemon:app", "docker-daemon:app:latest", NULL);
  ref_ok ("docker-daemon:localhost:5000/org/app", "docker-daemon:localhost:5000/org/app:latest", NULL);
  ref_ok ("docker-daemon:ghcr.io/org/app:v1", "docker-daemon:ghcr.io/org/app:v1", NULL);
  snprintf (buf, sizeof buf, "docker-daemon:%s", d);
  ref_ok (buf, buf, NULL);
  snprintf (buf, sizeof buf, "docker-daemon:app@%s", d);
  ref_ok (buf, buf, NULL);
  ref_ok ("dir:/some/dir:with:colons", "dir:/some/dir:with:colons", NULL);

  ref_bad ("", "empty");
  ref_bad ("Nginx", "lowercase");
  ref_bad ("ghcr.io/Org/app", "lowercase");
  ref_bad ("nginx:", "bad tag");
  ref_bad ("nginx:-x", "bad tag");
  ref_bad ("a//b", "path component");
  ref_bad ("a/-b", "path component");
  ref_bad ("a_/b", "path component");
  ref_bad ("a___b", "path component");
  ref_bad ("nginx@sha256:abc", "malformed digest");
  ref_bad ("nginx@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm");
  ref_bad ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "image ID");
  ref_bad ("docker:nginx", "docker://");
  ref_bad ("oci:", "missing path");
  ref_bad ("oci:x:@", "@N");
  ref_bad ("docker-daemon:", "missing image name");
  ref_bad ("docker-daemon:App", "lowercase");
  ref_bad ("docker-daemon:sha256:abc", "image ID is sha256:");
  ref_bad ("dir:", "missing path");
  ref_bad ("bad_host.io:99999999/x", "registry host");
  memset (buf, 'a', 256);
  buf[256] = 0;
  ref_bad (buf, "longer than 255");
  /* a registry host named like a transport keeps docker:// in the canonical text */
  ref_ok ("docker://oci:5000/x", "docker://oci:5000/x:latest", "oci:5000");
  ref_ok ("docker://docker:4/v8", "docker://docker:4/v8:latest", "docker:4");
  ref_ok ("docker://oci:5000/x:latest", "docker://oci:5000/x:latest", "oci:5000");
  /* 237 characters: docker.io/library/ + 237 is 255, the most distribution/reference takes */
  memset (buf, 'a', 238);
  buf[238] = 0;
  ref_bad (buf, "longer than 255");
  buf[237] = 0;
  {
    char canon[340];
    snprintf (canon, sizeof canon, "docker.io/library/%s:latest", buf);
    ref_ok (buf, canon, "registry-1.docker.io");
  }
  memset (buf, 'a', 129);
  strcpy (buf, "x:");
  memset (buf + 2, 'a', 129);
  buf[131] = 0;
  ref_bad (buf, "bad tag");
}

static void
plat (const char *s, const char *want)
{
  struct enclaver_platform p;
  char buf[96];
  enclaver_error_t err = NULL;
  if (want == NULL)
    {
      tap_ok (enclaver_platform_parse (s, &p, &err) < 0, "platform '%s' rejected", s);
      enclaver_error_release (&err);
      return;
    }
  if (!tap_ok (enclaver_platform_parse (s, &p, &err) == 0, "platform '%s' parses", s))
    {
      enclaver_error_release (&err);
      return;
    }
  TAP_STR_EQ (enclaver_platform_format (&p, buf, sizeof buf), want, "platform '%s' -> %s", s, want);
}

static void
test_platforms (void)
{
  plat ("linux/amd64", "linux/amd64");
  plat ("linux/x86_64", "linux/amd64");
  plat ("x86-64", "linux/amd64");
  plat ("linux/amd64/v1", "linux/amd64");
  plat ("linux/amd64/v3", "linux/amd64/v3");
  plat ("linux/arm64/v8", "linux/arm64");
  plat ("linux/arm64/8", "linux/arm64");
  plat ("aarch64", "linux/arm64");
  plat ("linux/armhf", "linux/arm/v7");
  plat ("linux/arm/7", "linux/arm/v7");
  plat ("Linux/ARM64", "linux/arm64");
  plat ("", NULL);
  plat ("linux//amd64", NULL);
  plat ("a/b/c/d", NULL);
  plat ("linux/am d64", NULL);
  struct enclaver_platform h;
  char buf[96];
  enclaver_platform_host (&h);
  tap_ok (strncmp (enclaver_platform_format (&h, buf, sizeof buf), "linux/", 6) == 0, "host platform %s", buf);

  /* Index selection. */
  static const char idx[] =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":1,"
    "\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
    "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"},"
    "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}},"
    "{\"mediaType\":\"application/vnd.example.other\",\"size\":1,"
    "\"digest\":\"sha256:2222222222222222222222222222222222222222222222222222222222222222\","
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":1,"
    "\"digest\":\"sha256:3333333333333333333333333333333333333333333333333333333333333333\","
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":\"v3\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":1,"
    "\"digest\":\"sha256:4444444444444444444444444444444444444444444444444444444444444444\","
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"size\":1,"
    "\"digest\":\"sha256:5555555555555555555555555555555555555555555555555555555555555555\","
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":1,"
    "\"digest\":\"sha256:6666666666666666666666666666666666666666666666666666666666666666\","
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}";
  enclaver_error_t err = NULL;
  json_t *j = oci_json_load (idx, strlen (idx), "idx", &err);
  char *mt = NULL;
  struct oci_index ix;
  TAP_INT_EQ (oci_doc_kind (j, NULL, "idx", &mt, &err), OCI_DOC_INDEX, "index recognised");
  TAP_INT_EQ (oci_index_parse (j, mt, "idx", &ix, &err), 0, "index parsed");
  json_decref (j);
  free (mt);
  struct enclaver_platform p;
  enclaver_platform_parse ("linux/amd64", &p, &err);
  TAP_INT_EQ (oci_index_select (&ix, &p, "idx", &err), 3, "amd64: plain amd64 entry (not v3, not unknown type)");
  enclaver_platform_parse ("linux/amd64/v3", &p, &err);
  TAP_INT_EQ (oci_index_select (&ix, &p, "idx", &err), 2, "amd64/v3 when asked");
  enclaver_platform_parse ("linux/arm64", &p, &err);
  TAP_INT_EQ (oci_index_select (&ix, &p, "idx", &err), 4, "arm64 matches arm64/v8, first match wins");
  enclaver_platform_parse ("linux/ppc64le", &p, &err);
  TAP_INT_EQ (oci_index_select (&ix, &p, "idx", &err), -1, "ppc64le: no match");
  if (err)
    {
      TAP_CONTAINS (err->msg, "linux/amd64/v3, linux/amd64, linux/arm64/v8, linux/arm64", "error lists offers in order");
      TAP_CONTAINS (err->msg, "attestation", "error mentions attestation");
    }
  enclaver_error_release (&err);
  oci_index_free (&ix);
}

static void
chal (const char *hdr, int n, const char *scheme0, const char *realm0, const char *service0, const char *scope0)
{
  struct oci_challenge c[8];
  size_t l = strlen (hdr);
  char *v = xmalloc (l + 2);
  memcpy (v, hdr, l + 1);
  v[l + 1] = '\0';
  for (char *p = v; *p; p++)
    if (*p == '\n')
      *p = '\0';
  int got = oci_www_authenticate_parse (v, c, 8);
  TAP_INT_EQ (got, n, "challenges in [%s]", hdr);
  if (got > 0)
    {
      TAP_STR_EQ (c[0].scheme, scheme0, "scheme");
      if (realm0)
        TAP_STR_EQ (c[0].realm, realm0, "realm");
      if (service0)
        TAP_STR_EQ (c[0].service, service0, "service");
      if (scope0)
        TAP_STR_EQ (c[0].scope, scope0, "scope");
    }
  for (int i = 0; i < got; i++)
    oci_challenge_clear (&c[i]);
  free (v);
}

static void
test_challenges (void)
{
  chal ("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
        "scope=\"repository:samalba/my-app:pull,push\"",
        1, "bearer", "https://auth.docker.io/token", "registry.docker.io", "repository:samalba/my-app:pull,push");
  chal ("Basic realm=\"https://123.dkr.ecr.us-east-1.amazonaws.com/\",service=\"ecr.amazonaws.com\"", 1, "basic",
        "https://123.dkr.ecr.us-east-1.amazonaws.com/", "ecr.amazonaws.com", NULL);
  chal ("BEARER Realm=\"r\" , Service=s", 1, "bearer", "r", "s", NULL);
  chal ("Basic realm=\"a\", Bearer realm=\"b\",service=\"c\"", 2, "basic", "a", NULL, NULL);
  chal ("Basic realm=\"a\"\nBearer realm=\"b\"", 2, "basic", "a", NULL, NULL);
  chal ("Bearer realm=\"with \\\"quote\\\"\"", 1, "bearer", "with \"quote\"", NULL, NULL);
  chal ("Bearer realm=\"x\",error=\"insufficient_scope\",scope=\"repository:a:pull\"", 1, "bearer", "x", NULL,
        "repository:a:pull");
  chal ("Bearer realm=\"unterminated", -1, "", NULL, NULL, NULL);
  chal ("", 0, "", NULL, NULL, NULL);
}

static void
kind (const char *doc, const char *declared, int want, const char *needle)
{
  enclaver_error_t err = NULL;
  char *mt = NULL;
  json_t *j = oci_json_load (doc, strlen (doc), "doc", &err);
  int k = j ? oci_doc_kind (j, declared, "doc", &mt, &err) : -1;
  TAP_INT_EQ (k, want, "kind of %.60s (declared %s)", doc, declared ? declared : "-");
  if (needle)
    TAP_CONTAINS (err ? err->msg : NULL, needle, "error says '%s'", needle);
  json_decref (j);
  free (mt);
  enclaver_error_release (&err);
}

static void
test_docs (void)
{
  kind ("{\"schemaVersion\":2,\"manifests\":[]}", NULL, OCI_DOC_INDEX, NULL);
  kind ("{\"schemaVersion\":2,\"config\":{},\"layers\":[]}", NULL, OCI_DOC_MANIFEST, NULL);
  kind ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\","
        "\"manifests\":[]}",
        "application/vnd.docker.distribution.manifest.list.v2+json", OCI_DOC_INDEX, NULL);
  kind ("{\"schemaVersion\":1,\"fsLayers\":[]}", NULL, -1, "schema 1");
  kind ("{}", "application/vnd.docker.distribution.manifest.v1+prettyjws", -1, "schema 1");
  kind ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{},"
        "\"layers\":[]}",
        "application/vnd.oci.image.index.v1+json", -1, "disagrees");
  kind ("{\"schemaVersion\":2,\"manifests\":[],\"layers\":[]}", NULL, -1, "both");
  kind ("{\"schemaVersion\":2,\"manifests\":[]}", "application/vnd.oci.image.manifest.v1+json", -1, "carries");
  kind ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\"}", NULL, -1,
        "unsupported manifest media type");
  kind ("{\"schemaVersion\":2,\"config\":{},\"layers\":[]}", "application/json", OCI_DOC_MANIFEST, NULL);
  kind ("{\"schemaVersion\":3,\"manifests\":[]}", NULL, -1, "schemaVersion");
  kind ("{\"schemaVersion\":2,\"manifests\":[],\"manifests\":[]}", NULL, -1, "duplicate");
  kind ("{\"schemaVersion\":2,\"Manifests\":[],\"manifests\":[]}", NULL, -1, "collides");
  kind ("[1]", NULL, -1, "not a JSON object");

  /* Config parsing. */
  struct enclaver_image img;
  enclaver_error_t err = NULL;
  static const char cfg[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":null,"
                            "\"Cmd\":[\"sh\",\"-c\",\"x\"],\"Env\":[\"A=1\"],\"User\":\"u:g\","
                            "\"Labels\":{\"k\":\"v\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
  memset (&img, 0, sizeof img);
  TAP_INT_EQ (oci_config_parse (cfg, strlen (cfg), "cfg", &img, &err), 0, "config parses");
  TAP_INT_EQ (img.has_entrypoint, 0, "null Entrypoint is absent");
  TAP_INT_EQ (img.n_cmd, 3, "Cmd has 3 elements");
  TAP_STR_EQ (img.labels[0], "k=v", "labels as k=v");
  TAP_STR_EQ (img.user, "u:g", "User");
  static const char bad1[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"x\",\"diff_ids\":[]}}";
  static const char bad2[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":\"sh\"},"
                             "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
  static const char bad3[] = "{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
  static const char bad4[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                             "\"diff_ids\":[\"sha256:xyz\"]}}";
  const char *bads[] = { bad1, bad2, bad3, bad4 };
  const char *needles[] = { "rootfs.type", "array of strings", "required", "malformed digest" };
  for (int i = 0; i < 4; i++)
    {
      struct enclaver_image b;
      memset (&b, 0, sizeof b);
      enclaver_error_release (&err);
      TAP_INT_EQ (oci_config_parse (bads[i], strlen (bads[i]), "cfg", &b, &err), -1, "bad config %d refused", i);
      TAP_CONTAINS (err ? err->msg : NULL, needles[i], "bad config %d: '%s'", i, needles[i]);
      /* fields parsed before the error are owned by b: release them like the library does */
      free (b.architecture);
      free (b.os);
      free (b.variant);
      free (b.created);
      for (size_t k = 0; k < b.n_cmd; k++)
        free (b.cmd[k]);
      free (b.cmd);
      for (size_t k = 0; k < b.n_diff_ids; k++)
        free (b.diff_ids[k]);
      free (b.diff_ids);
    }
  enclaver_error_release (&err);
  free (img.architecture);
  free (img.os);
  free (img.user);
  for (size_t k = 0; k < img.n_cmd; k++)
    free (img.cmd[k]);
  free (img.cmd);
  free (img.env[0]);
  free (img.env);
  free (img.labels[0]);
  free (img.labels);
  free (img.diff_ids);
}

static void
test_misc (void)
{
  char d[OCI_DIGEST_LEN + 1];
  oci_sha256_buf ("abc", 3, d);
  TAP_STR_EQ (d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256(abc)");
  tap_ok (oci_digest_valid (d), "valid digest");
  d[10] = 'A';
  tap_ok (!oci_digest_valid (d), "uppercase hex refused");
  char *b = oci_base64 ("alice:wonderland", 16);
  TAP_STR_EQ (b, "YWxpY2U6d29uZGVybGFuZA==", "base64");
  size_t n = 0;
  unsigned char *dec = oci_base64_decode (b, &n);
  TAP_INT_EQ (n, 16, "base64 decode length");
  tap_ok (dec && memcmp (dec, "alice:wonderland", 16) == 0, "base64 round trip");
  free (dec);
  free (b);
  tap_ok (oci_base64_decode ("abc", &n) == NULL, "bad base64 refused");
  tap_ok (oci_host_is_loopback ("127.0.0.1:5000") == 1, "127.0.0.1 is loopback");
  tap_ok (oci_host_is_loopback ("127.8.9.1") == 1, "127/8 is loopback");
  tap_ok (oci_host_is_loopback ("localhost:1") == 1, "localhost is loopback");
  tap_ok (oci_host_is_loopback ("[::1]:5000") == 1, "::1 is loopback");
  tap_ok (oci_host_is_loopback ("10.0.0.1:5000") == 0, "10/8 is not loopback");
  tap_ok (oci_host_is_loopback ("example.com") == 0, "example.com is not loopback");
}

int
main (void)
{
  test_refs ();
  test_platforms ();
  test_challenges ();
  test_docs ();
  test_misc ();
  return tap_done ();
}
