/* The flatten stage plugin: loaded by the real loader, run by the real pipeline on
 * an image whose layers are generated here (gzip + zstd + plain). */
#include "config.h"

#include <errno.h>

#include <enclaver/context.h>
#include <enclaver/image.h>
#include <enclaver/loader.h>
#include <enclaver/manifest.h>
#include <enclaver/pipeline.h>
#include <enclaver/tree.h>
#include "tests/tap.h"
#include "tests/tree/layergen.h"

static char *
file_digest (const char *path)
{
  FILE *f = fopen (path, "rb");
  EVP_MD_CTX *md = EVP_MD_CTX_new ();
  EVP_DigestInit_ex (md, EVP_sha256 (), NULL);
  unsigned char buf[65536], d[32];
  size_t k;
  while (f && (k = fread (buf, 1, sizeof buf, f)) > 0)
    EVP_DigestUpdate (md, buf, k);
  if (f)
    fclose (f);
  EVP_DigestFinal_ex (md, d, NULL);
  EVP_MD_CTX_free (md);
  char *s = malloc (80);
  strcpy (s, "sha256:");
  for (int i = 0; i < 32; i++)
    sprintf (s + 7 + 2 * i, "%02x", d[i]);
  return s;
}

static struct enclaver_image *
make_image (char **paths, char **diff_ids, size_t n, int corrupt_diff)
{
  struct enclaver_image *img = calloc (1, sizeof *img);
  img->name = strdup ("test/image:latest");
  img->digest = strdup ("sha256:feed");
  img->layers = calloc (n, sizeof *img->layers);
  img->diff_ids = calloc (n + 1, sizeof (char *));
  img->n_layers = img->n_diff_ids = n;
  for (size_t i = 0; i < n; i++)
    {
      img->layers[i].digest = file_digest (paths[i]);
      img->layers[i].path = strdup (paths[i]);
      img->layers[i].diff_id = strdup (corrupt_diff && i == n - 1 ? "sha256:0000" : diff_ids[i]);
      img->diff_ids[i] = strdup (img->layers[i].diff_id);
    }
  return img;
}

static int
run (enclaver_loader_t *ld, const struct enclaver_stage_desc *desc, struct enclaver_image *img,
     const struct enclaver_kv *opts, size_t n_opts, enclaver_ctx_t **ctx_out, enclaver_error_t *err)
{
  enclaver_ctx_t *ctx = enclaver_ctx_new ();
  *ctx_out = ctx;
  if (enclaver_ctx_set (ctx, ENCLAVER_SLOT_IMAGE, ENCLAVER_IMAGE_TYPE, img, enclaver_image_free_void, err) < 0)
    return -1;
  enclaver_pipeline_t *p = enclaver_pipeline_new (ld);
  int r = enclaver_pipeline_append (p, desc, opts, n_opts, err);
  if (r == 0)
    r = enclaver_pipeline_run (p, ctx, err);
  enclaver_pipeline_free (p);
  return r;
}

int
main (void)
{
  enclaver_error_t err = NULL;
  enclaver_loader_t *ld = enclaver_loader_new ();
  const struct enclaver_stage_desc *desc = NULL;
  if (enclaver_loader_load_file (ld, ABS_TOP_BUILDDIR "/stages/.libs/flatten.so", &desc, &err) < 0)
    {
      tap_diag ("%s", err->msg);
      tap_ok (0, "flatten stage loads");
      return tap_done ();
    }
  tap_ok (desc && strcmp (desc->name, "flatten") == 0, "flatten stage loads");

  struct lg g = { 0 };
  char *paths[3], *dids[3];
  char d0[80], d1[80], d2[80];
  lg_dir (&g, "etc/", 0755);
  lg_file (&g, "etc/os-release", "ID=test\n");
  lg_file (&g, "etc/old", "old");
  lg_end (&g);
  paths[0] = lg_write (&g, "gzip", d0);
  lg_file (&g, "etc/.wh.old", NULL);
  lg_file (&g, "app/run.sh", "#!/bin/sh\n");
  lg_end (&g);
  paths[1] = lg_write (&g, "zstd", d1);
  lg_file (&g, "app/data", "0123456789");
  lg_end (&g);
  paths[2] = lg_write (&g, "none", d2);
  dids[0] = d0, dids[1] = d1, dids[2] = d2;

  enclaver_ctx_t *ctx;
  int r = run (ld, desc, make_image (paths, dids, 3, 0), NULL, 0, &ctx, &err);
  if (!tap_ok (r == 0, "flatten runs on a 3-layer image (gzip, zstd, tar)"))
    tap_diag ("%s", err->msg);
  enclaver_error_release (&err);
  enclaver_tree_t *t = enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE);
  tap_ok (t != NULL, "the rootfs slot holds an enclaver.tree");
  char *s = NULL;
  if (t && enclaver_tree_read_file (t, "app/data", 100, &s, NULL, NULL) == 0)
    TAP_STR_EQ (s, "0123456789", "top layer content present");
  else
    tap_ok (0, "top layer content present");
  free (s);
  tap_ok (t && enclaver_tree_lookup (t, "etc/old", 0, NULL) == NULL, "whiteout from layer 2 applied");
  enclaver_ctx_free (ctx);

  r = run (ld, desc, make_image (paths, dids, 3, 1), NULL, 0, &ctx, &err);
  tap_ok (r < 0, "wrong diff_id fails the stage");
  char *dg = file_digest (paths[2]);
  TAP_CONTAINS (err ? err->msg : NULL, dg, "error names the layer digest");
  free (dg);
  TAP_CONTAINS (err ? err->msg : NULL, "diff_id mismatch", "error says diff_id mismatch");
  enclaver_error_release (&err);
  tap_ok (enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, ENCLAVER_TREE_TYPE) == NULL, "no tree stored on failure");
  enclaver_ctx_free (ctx);

  struct enclaver_kv small[] = { { (char *) "max_bytes", (char *) "5" } };
  r = run (ld, desc, make_image (paths, dids, 3, 0), small, 1, &ctx, &err);
  tap_ok (r < 0, "max_bytes option enforced");
  TAP_CONTAINS (err ? err->msg : NULL, "max-bytes", "max_bytes error names the limit");
  enclaver_error_release (&err);
  enclaver_ctx_free (ctx);

  struct enclaver_kv bad[] = { { (char *) "max_depth", (char *) "0" } };
  r = run (ld, desc, make_image (paths, dids, 3, 0), bad, 1, &ctx, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "max_depth"), "invalid option rejected in init");
  enclaver_error_release (&err);
  enclaver_ctx_free (ctx);

  ctx = enclaver_ctx_new ();
  enclaver_pipeline_t *p = enclaver_pipeline_new (ld);
  r = enclaver_pipeline_append (p, desc, NULL, 0, &err);
  if (r == 0)
    r = enclaver_pipeline_run (p, ctx, &err);
  tap_ok (r < 0 && err && strstr (err->msg, "fetch"), "without an image the error says fetch must run first");
  enclaver_error_release (&err);
  enclaver_pipeline_free (p);
  enclaver_ctx_free (ctx);

  for (int i = 0; i < 3; i++)
    free (paths[i]);
  enclaver_loader_free (ld);
  lg_cleanup ();
  return tap_done ();
}
