/* enclaver CLI: the EIF inside a wrapper image (cli/image-eif.h), shared by
 * `enclaver run` and `enclaver verify --image`. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include <enclaver/tempfiles.h>
#include "cli/eif-common.h"
#include "cli/image-eif.h"
#include "util.h"

/* The fixed names of what is extracted; nothing else is ever written. */
static const char *const extracted[] = { "application.eif", "enclaver.yaml" };

/* The directory still to remove at exit (one at a time: each command opens one image). */
static char atexit_dir[256];

static void
remove_dir (const char *dir)
{
  for (size_t i = 0; i < ARRAY_SIZE (extracted); i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", dir, extracted[i]);
      unlink (p);
    }
  rmdir (dir);
  enclaver_temp_forget (dir);
}

static void
cleanup_at_exit (void)
{
  if (atexit_dir[0])
    remove_dir (atexit_dir);
  atexit_dir[0] = '\0';
}

/* Extract the current entry of a into DIR/NAME. */
static int
extract_entry (struct archive *a, const char *dir, const char *src, const char *entry, const char *name,
               char **out, enclaver_error_t *err)
{
  cleanup_free char *path = xasprintf ("%s/%s", dir, name);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return enclaver_make_errno (err, errno, "create %s", path);
  if (archive_read_data_into_fd (a, fd) != ARCHIVE_OK)
    {
      close (fd);
      return enclaver_make_error (err, EIO, "%s: %s: %s", src, entry, archive_error_string (a));
    }
  if (close (fd) < 0)
    return enclaver_make_errno (err, errno, "write %s", path);
  *out = path;
  path = NULL;
  return 0;
}

int
cli_image_eif_open (struct cli_image_eif *w, const char *cmd, const char *source,
                    const struct enclaver_image_options *o, enclaver_error_t *err)
{
  static int registered;
  struct enclaver_image *img;
  size_t i;

  memset (w, 0, sizeof *w);
  snprintf (w->tmpdir, sizeof w->tmpdir, "%s/enclaver-%s-XXXXXX", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp",
            cmd);
  if (enclaver_temp_mkdtemp (w->tmpdir) == NULL)
    {
      w->tmpdir[0] = '\0';
      return enclaver_make_errno (err, errno, "create a temporary directory");
    }
  snprintf (atexit_dir, sizeof atexit_dir, "%s", w->tmpdir);
  if (!registered)
    {
      atexit (cleanup_at_exit);
      registered = 1;
    }

  img = enclaver_image_fetch (source, o, err);
  if (img == NULL)
    return -1;
  w->digest = img->digest ? xstrdup (img->digest) : NULL;
  for (i = 0; i < img->n_labels; i++)
    {
      int n;
      char eq;
      if (sscanf (img->labels[i], "dev.enclaver.pcr%d%c", &n, &eq) == 2 && eq == '=' && n >= 0
          && (n <= 2 || n == 8) && w->pcr_label[n] == NULL)
        w->pcr_label[n] = xstrdup (strchr (img->labels[i], '=') + 1);
    }
  for (i = img->n_layers; i > 0 && (w->eif == NULL || w->manifest == NULL); i--)
    {
      enclaver_layer_stream_t *ls = enclaver_layer_open (img, i - 1, err);
      struct archive *a;
      struct archive_entry *ae;
      if (ls == NULL)
        break;
      a = enclaver_layer_archive (ls, err);
      while (a && archive_read_next_header (a, &ae) == ARCHIVE_OK)
        {
          const char *name = archive_entry_pathname (ae);
          if (name && strncmp (name, "./", 2) == 0)
            name += 2;
          if (name == NULL || archive_entry_filetype (ae) != AE_IFREG)
            continue;
          if (w->eif == NULL && strcmp (name, "enclave/application.eif") == 0)
            {
              if (extract_entry (a, w->tmpdir, source, name, "application.eif", &w->eif, err) < 0)
                break;
            }
          else if (w->manifest == NULL && strcmp (name, "enclave/enclaver.yaml") == 0)
            {
              if (extract_entry (a, w->tmpdir, source, name, "enclaver.yaml", &w->manifest, err) < 0)
                break;
            }
        }
      if (a)
        archive_read_free (a);
      enclaver_layer_close (ls);
      if (*err)
        break;
    }
  enclaver_image_free (img);
  if (*err)
    return -1;
  if (w->eif == NULL)
    return enclaver_make_error (err, ENOENT, "%s has no enclave/application.eif: not an enclaver wrapper image",
                                source);
  return 0;
}

int
cli_image_eif_check_labels (const struct cli_image_eif *w, const struct enclaver_eif_measurements *m,
                            enclaver_error_t *err)
{
  static const int idx[] = { 0, 1, 2, 8 };
  for (size_t i = 0; i < ARRAY_SIZE (idx); i++)
    {
      int n = idx[i];
      const uint8_t *have = cli_pcr_of (m, n);
      char hex[ENCLAVER_PCR_HEX_SIZE] = "";
      if (w->pcr_label[n] == NULL)
        continue;
      if (have)
        enclaver_pcr_to_hex (have, hex);
      if (have == NULL || strcasecmp (hex, w->pcr_label[n]) != 0)
        return enclaver_make_error (err, EINVAL,
                                    "the wrapper image's label dev.enclaver.pcr%d (%s) does not match the EIF "
                                    "inside it (%s): the image was altered after it was built",
                                    n, w->pcr_label[n], have ? hex : "no PCR8: unsigned");
    }
  return 0;
}

void
cli_image_eif_clear (struct cli_image_eif *w)
{
  if (w->tmpdir[0])
    {
      remove_dir (w->tmpdir);
      if (strcmp (atexit_dir, w->tmpdir) == 0)
        atexit_dir[0] = '\0';
    }
  free (w->eif);
  free (w->manifest);
  free (w->digest);
  for (size_t i = 0; i < ARRAY_SIZE (w->pcr_label); i++)
    free (w->pcr_label[i]);
  memset (w, 0, sizeof *w);
}
