/* enclaver-supervisor: resolve an image's User against the rootfs's /etc/passwd and
 * /etc/group, the way Docker (runc) does. */
#ifndef ENCLAVER_SV_USER_H
#define ENCLAVER_SV_USER_H

#include <stddef.h>
#include <sys/types.h>

struct sv_user
{
  uid_t uid;
  gid_t gid;
  gid_t *groups; /* supplementary groups for setgroups() */
  size_t ngroups;
  char *home;    /* from passwd, else "/" */
};

/* spec: "", "name", "uid", "name:group", "uid:gid", "name:gid", "uid:group".
 * rootfs: directory whose etc/passwd and etc/group are read ("/" in the enclave).
 * Missing files are treated as empty.  0, or -1 with err set. */
int sv_user_resolve (const char *rootfs, const char *spec, struct sv_user *u, char *err,
                     size_t errlen);
void sv_user_free (struct sv_user *u);

#endif
