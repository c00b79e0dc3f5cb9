/* enclaver-supervisor: User resolution (Docker/runc semantics).
 *
 * - "" → uid 0, gid 0; HOME from root's passwd entry when present.
 * - The user part is looked up by name in passwd; a numeric value that matches no name
 *   is used as a uid (looked up by uid for the primary group and home, when present).
 *   A name that is not in passwd is an error.
 * - The group part likewise in group; a non-numeric name that is missing is an error.
 * - Without an explicit group, the primary group comes from passwd (0 when the uid has no
 *   entry) and the supplementary groups are the group entries listing the user name. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rtutil.h"
#include "user.h"

#define SV_ID_MAX 0xFFFFFFFEu /* (uid_t)-1 is reserved */

static int
parse_id (const char *s, unsigned long *out)
{
  char *end;
  unsigned long v;
  if (*s < '0' || *s > '9')
    return -1;
  errno = 0;
  v = strtoul (s, &end, 10);
  if (errno || *end || v > SV_ID_MAX)
    return -1;
  *out = v;
  return 0;
}

static FILE *
open_db (const char *rootfs, const char *name)
{
  char *p = xasprintf ("%s/etc/%s", strcmp (rootfs, "/") == 0 ? "" : rootfs, name);
  FILE *f = fopen (p, "re");
  free (p);
  return f;
}

struct pw_found
{
  int found;
  char *name;
  uid_t uid;
  gid_t gid;
  char *home;
};

/* Look up by name first, then (numeric specs only) by uid. */
static int
find_passwd (const char *rootfs, const char *spec, struct pw_found *out)
{
  FILE *f = open_db (rootfs, "passwd");
  struct passwd *pw;
  unsigned long id;
  int numeric = parse_id (spec, &id) == 0;
  int pass;

  memset (out, 0, sizeof *out);
  if (f == NULL)
    return 0;
  for (pass = 0; pass < 2 && !out->found; pass++)
    {
      if (pass == 1 && !numeric)
        break;
      rewind (f);
      while ((pw = fgetpwent (f)) != NULL)
        {
          int match = pass == 0 ? strcmp (pw->pw_name, spec) == 0 : pw->pw_uid == (uid_t) id;
          if (match)
            {
              out->found = 1;
              out->name = xstrdup (pw->pw_name);
              out->uid = pw->pw_uid;
              out->gid = pw->pw_gid;
              out->home = xstrdup (pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
              break;
            }
        }
    }
  fclose (f);
  return 0;
}

static int
find_group (const char *rootfs, const char *spec, gid_t *gid)
{
  FILE *f = open_db (rootfs, "group");
  struct group *gr;
  unsigned long id;
  int found = 0, pass, numeric = parse_id (spec, &id) == 0;

  if (f != NULL)
    {
      for (pass = 0; pass < 2 && !found; pass++)
        {
          if (pass == 1 && !numeric)
            break;
          rewind (f);
          while ((gr = fgetgrent (f)) != NULL)
            if (pass == 0 ? strcmp (gr->gr_name, spec) == 0 : gr->gr_gid == (gid_t) id)
              {
                *gid = gr->gr_gid;
                found = 1;
                break;
              }
        }
      fclose (f);
    }
  if (!found && numeric)
    {
      *gid = (gid_t) id;
      found = 1;
    }
  return found ? 0 : -1;
}

static void
add_group (struct sv_user *u, gid_t g)
{
  size_t i;
  for (i = 0; i < u->ngroups; i++)
    if (u->groups[i] == g)
      return;
  u->groups = xreallocarray (u->groups, u->ngroups + 1, sizeof *u->groups);
  u->groups[u->ngroups++] = g;
}

static void
member_groups (const char *rootfs, const char *name, struct sv_user *u)
{
  FILE *f = open_db (rootfs, "group");
  struct group *gr;
  if (f == NULL)
    return;
  while ((gr = fgetgrent (f)) != NULL)
    {
      char **m;
      for (m = gr->gr_mem; m && *m; m++)
        if (strcmp (*m, name) == 0)
          {
            add_group (u, gr->gr_gid);
            break;
          }
    }
  fclose (f);
}

int
sv_user_resolve (const char *rootfs, const char *spec, struct sv_user *u, char *err,
                 size_t errlen)
{
  char *userpart, *grouppart = NULL, *colon;
  struct pw_found pw = { 0 };
  unsigned long id;
  int r = -1;

  memset (u, 0, sizeof *u);
  if (rootfs == NULL || *rootfs == '\0')
    rootfs = "/";
  if (spec == NULL)
    spec = "";
  userpart = xstrdup (spec);
  colon = strchr (userpart, ':');
  if (colon)
    {
      *colon = '\0';
      grouppart = colon + 1;
      if (*grouppart == '\0')
        grouppart = NULL;
    }
  if (*userpart == '\0')
    {
      if (colon && grouppart == NULL)
        {
          rt_err (err, errlen, "invalid user \"%s\"", spec);
          goto out;
        }
      free (userpart);
      userpart = xstrdup ("0");
    }

  find_passwd (rootfs, userpart, &pw);
  if (pw.found)
    {
      u->uid = pw.uid;
      u->gid = pw.gid;
      u->home = pw.home;
      pw.home = NULL;
    }
  else if (parse_id (userpart, &id) == 0)
    {
      u->uid = (uid_t) id;
      u->gid = 0;
      u->home = xstrdup ("/");
    }
  else
    {
      rt_err (err, errlen, "unable to find user %s: no matching entries in %s/etc/passwd",
              userpart, strcmp (rootfs, "/") == 0 ? "" : rootfs);
      goto out;
    }

  if (grouppart)
    {
      if (find_group (rootfs, grouppart, &u->gid) < 0)
        {
          rt_err (err, errlen, "unable to find group %s: no matching entries in %s/etc/group",
                  grouppart, strcmp (rootfs, "/") == 0 ? "" : rootfs);
          goto out;
        }
      add_group (u, u->gid);
    }
  else
    {
      add_group (u, u->gid);
      if (pw.found)
        member_groups (rootfs, pw.name, u);
    }
  r = 0;
out:
  free (pw.name);
  free (pw.home);
  free (userpart);
  if (r < 0)
    sv_user_free (u);
  return r;
}

void
sv_user_free (struct sv_user *u)
{
  free (u->groups);
  free (u->home);
  memset (u, 0, sizeof *u);
}
