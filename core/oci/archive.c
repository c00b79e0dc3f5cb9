/* enclaver: reading oci-archive and docker-archive tarballs in one pass (OCI.md §1.3, §1.4).
 * Every regular member is copied into the cache while hashed (members named
 * blobs/sha256/<hex> must match their name); small JSON members are also kept in
 * memory.  Member order does not matter. */
#include "config.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <string.h>
#include "oci/oci.h"

#define MAX_MEMBERS 100000

void
oci_archive_free (struct oci_archive *a)
{
  for (size_t i = 0; i < a->n; i++)
    {
      free (a->m[i].name);
      free (a->m[i].digest);
      free (a->m[i].link);
      free (a->m[i].data);
    }
  free (a->m);
  free (a->file);
  memset (a, 0, sizeof *a);
}

/* Clean a member name: strip "./" and trailing "/", reject absolute names, "..", empty. */
static char *
clean_name (const char *raw)
{
  if (raw == NULL || raw[0] == '/' )
    return NULL;
  cleanup_free char *s = xstrdup (raw);
  size_t cap = strlen (s) + 1, len = 0;
  char *out = xmalloc (cap);
  char *save = NULL;
  for (char *tok = strtok_r (s, "/", &save); tok; tok = strtok_r (NULL, "/", &save))
    {
      if (strcmp (tok, ".") == 0)
        continue;
      if (strcmp (tok, "..") == 0)
        {
          free (out);
          return NULL;
        }
      len += (size_t) sprintf (out + len, "%s%s", len ? "/" : "", tok);
    }
  if (len == 0)
    {
      free (out);
      return NULL;
    }
  return out;
}

/* Resolve a symlink target relative to the member's directory; NULL if it leaves the archive. */
static char *
resolve_link (const char *member, const char *target)
{
  if (target[0] == '/')
    return clean_name (target + 1);
  const char *slash = strrchr (member, '/');
  cleanup_free char *joined = slash ? xasprintf ("%.*s/%s", (int) (slash - member), member, target) : xstrdup (target);
  /* lexical resolution of ".." inside the archive */
  char *parts[512];
  int n = 0;
  char *save = NULL;
  for (char *tok = strtok_r (joined, "/", &save); tok; tok = strtok_r (NULL, "/", &save))
    {
      if (strcmp (tok, ".") == 0)
        continue;
      if (strcmp (tok, "..") == 0)
        {
          if (n == 0)
            return NULL;
          n--;
          continue;
        }
      if (n == 512)
        return NULL;
      parts[n++] = tok;
    }
  if (n == 0)
    return NULL;
  size_t len = 0;
  for (int i = 0; i < n; i++)
    len += strlen (parts[i]) + 1;
  char *out = xmalloc (len);
  len = 0;
  for (int i = 0; i < n; i++)
    len += (size_t) sprintf (out + len, "%s%s", i ? "/" : "", parts[i]);
  return out;
}

static int
keep_in_memory (const char *name, int64_t size)
{
  if (size < 0 || size > (int64_t) OCI_MAX_DOC)
    return 0;
  if (strchr (name, '/') != NULL)
    return 0;
  size_t n = strlen (name);
  return strcmp (name, "oci-layout") == 0 || strcmp (name, "repositories") == 0
         || (n > 5 && strcmp (name + n - 5, ".json") == 0);
}

int
oci_archive_load (const char *file, struct oci_cache *c, struct oci_archive *out, enclaver_error_t *err)
{
  return oci_archive_load_as (file, file, c, out, err);
}

int
oci_archive_load_as (const char *path, const char *file, struct oci_cache *c, struct oci_archive *out,
                     enclaver_error_t *err)
{
  struct archive *ar = archive_read_new ();
  struct archive_entry *e;
  size_t cap = 0;
  char buf[65536];
  int rc = -1;
  cleanup_close int fd = -1;
  memset (out, 0, sizeof *out);
  out->file = xstrdup (file);
  if (ar == NULL)
    xoom ();
  archive_read_support_format_tar (ar);
  archive_read_support_filter_gzip (ar);
  archive_read_support_filter_zstd (ar);
  archive_read_support_filter_none (ar);
  fd = enclaver_open_file (path, 0, err);
  if (fd < 0)
    goto out;
  if (archive_read_open_fd (ar, fd, 65536) != ARCHIVE_OK)
    {
      int en = archive_errno (ar);
      enclaver_make_error (err, en > 0 ? en : EINVAL, "%s: %s", file, archive_error_string (ar));
      goto out;
    }
  for (;;)
    {
      int r = archive_read_next_header (ar, &e);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK)
        {
          enclaver_make_error (err, EINVAL, "%s: bad tar member after %zu members: %s", file, out->n,
                               archive_error_string (ar));
          goto out;
        }
      const char *raw = archive_entry_pathname (e);
      mode_t type = archive_entry_filetype (e);
      const char *hl = archive_entry_hardlink (e);
      if (type == AE_IFDIR)
        continue;
      char *name = clean_name (raw);
      if (name == NULL)
        {
          enclaver_make_error (err, EINVAL, "%s: unsafe member name '%s'", file, raw ? raw : "");
          goto out;
        }
      for (size_t i = 0; i < out->n; i++)
        if (strcmp (out->m[i].name, name) == 0)
          {
            enclaver_make_error (err, EINVAL, "%s: duplicate member '%s'", file, name);
            free (name);
            goto out;
          }
      if (out->n >= MAX_MEMBERS)
        {
          free (name);
          enclaver_make_error (err, E2BIG, "%s: more than %d members", file, MAX_MEMBERS);
          goto out;
        }
      if (out->n == cap)
        {
          cap = cap ? cap * 2 : 32;
          out->m = xreallocarray (out->m, cap, sizeof *out->m);
        }
      struct oci_member *m = &out->m[out->n];
      memset (m, 0, sizeof *m);
      m->name = name;
      out->n++;
      if (hl)
        {
          m->link = clean_name (hl);
          if (m->link == NULL)
            {
              enclaver_make_error (err, EINVAL, "%s: member '%s' links outside the archive", file, name);
              goto out;
            }
          continue;
        }
      if (type == AE_IFLNK)
        {
          const char *t = archive_entry_symlink (e);
          m->link = t ? resolve_link (name, t) : NULL;
          if (m->link == NULL)
            {
              enclaver_make_error (err, EINVAL, "%s: member '%s' links outside the archive", file, name);
              goto out;
            }
          continue;
        }
      if (type != AE_IFREG)
        continue;
      int64_t size = archive_entry_size_is_set (e) ? archive_entry_size (e) : -1;
      const char *named = NULL;
      char want[OCI_DIGEST_LEN + 1];
      if (strncmp (name, "blobs/sha256/", 13) == 0)
        {
          snprintf (want, sizeof want, "sha256:%s", name + 13);
          if (!oci_digest_valid (want))
            {
              enclaver_make_error (err, EINVAL, "%s: member '%s' is not a valid sha256 blob name", file, name);
              goto out;
            }
          named = want;
        }
      int keep = keep_in_memory (name, size);
      size_t dcap = keep ? (size_t) size + 1 : 0;
      if (keep)
        m->data = xmalloc (dcap);
      struct oci_sink s;
      cleanup_free char *what = xasprintf ("%s: member %s", file, name);
      if (named && oci_cache_has (c, named, size))
        {
          /* Already verified in the cache: skip the bytes unless we keep them. */
          if (!keep)
            {
              m->digest = xstrdup (named);
              m->size = (uint64_t) size;
              continue;
            }
        }
      if (oci_sink_open (&s, c, size, what, err) < 0)
        goto out;
      for (;;)
        {
          la_ssize_t got = archive_read_data (ar, buf, sizeof buf);
          if (got < 0)
            {
              oci_sink_abort (&s);
              enclaver_make_error (err, EIO, "%s: reading member '%s': %s", file, name, archive_error_string (ar));
              goto out;
            }
          if (got == 0)
            break;
          if (keep)
            {
              if (m->data_len + (size_t) got >= dcap)
                {
                  oci_sink_abort (&s);
                  enclaver_make_error (err, EINVAL, "%s: member '%s' is larger than its header says", file, name);
                  goto out;
                }
              memcpy (m->data + m->data_len, buf, (size_t) got);
              m->data_len += (size_t) got;
            }
          oci_sink_write (&s, buf, (size_t) got);
        }
      if (keep)
        m->data[m->data_len] = '\0';
      m->size = s.n;
      char got_digest[OCI_DIGEST_LEN + 1];
      if (oci_sink_commit (&s, named, size, got_digest, err) < 0)
        goto out;
      m->digest = xstrdup (got_digest);
    }
  rc = 0;
out:
  archive_read_free (ar);
  if (rc < 0)
    oci_archive_free (out);
  return rc;
}

const struct oci_member *
oci_archive_find (const struct oci_archive *a, const char *raw)
{
  cleanup_free char *name = clean_name (raw);
  if (name == NULL)
    return NULL;
  for (int hop = 0; hop < 2; hop++)
    {
      const struct oci_member *found = NULL;
      for (size_t i = 0; i < a->n; i++)
        if (strcmp (a->m[i].name, name) == 0)
          found = &a->m[i];
      if (found == NULL)
        return NULL;
      if (found->link == NULL)
        return found;
      free (name);
      name = xstrdup (found->link);
    }
  return NULL; /* more than one level of links */
}
