/* Tests for the build context: typed slots, params, outputs, hooks. */
#include "config.h"

#include <errno.h>
#include <sys/stat.h>

#include <enclaver/context.h>
#include "tests/tap.h"
#include "tests/core/testlib.h"

static int freed;
static void
count_free (void *p)
{
  freed++;
  free (p);
}

static char trace[1024];

static int
hook_rec (enclaver_ctx_t *ctx, const char *event, void *ud, enclaver_error_t *err)
{
  (void) ctx;
  (void) err;
  strcat (trace, (const char *) ud);
  strcat (trace, "@");
  strcat (trace, event);
  strcat (trace, ";");
  return 0;
}

static int
hook_fail (enclaver_ctx_t *ctx, const char *event, void *ud, enclaver_error_t *err)
{
  (void) ctx;
  (void) ud;
  return enclaver_make_error (err, EPERM, "PCR0 differs from the pinned value (%s)", event);
}

int
main (void)
{
  enclaver_ctx_t *ctx = enclaver_ctx_new ();
  enclaver_error_t err = NULL;
  char *v = strdup ("rootfs-tree");
  const char *tmp = NULL;
  char *dir = make_tmpdir ();
  char final[512], final2[512];
  struct stat st;
  int fd, i;

  for (i = 0; i < ENCLAVER_SLOT_COUNT; i++)
    TAP_INT_EQ (enclaver_slot_from_name (enclaver_slot_name (i)), i, "slot %s round-trips", enclaver_slot_name (i));
  TAP_INT_EQ (enclaver_slot_from_name ("nope"), -1, "unknown slot name");
  tap_ok (enclaver_slot_name (ENCLAVER_SLOT_COUNT) == NULL, "slot out of range has no name");

  TAP_INT_EQ (enclaver_ctx_set (ctx, ENCLAVER_SLOT_ROOTFS, "enclaver.tree", v, count_free, &err), 0, "set slot");
  tap_ok (enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, "enclaver.tree") == v, "get with the right type");
  tap_ok (enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, "enclaver.image") == NULL, "get with another type is NULL");
  tap_ok (enclaver_ctx_get (ctx, ENCLAVER_SLOT_IMAGE, "enclaver.tree") == NULL, "empty slot is NULL");
  TAP_STR_EQ (enclaver_ctx_slot_type (ctx, ENCLAVER_SLOT_ROOTFS), "enclaver.tree", "slot type tag");
  enclaver_ctx_set (ctx, ENCLAVER_SLOT_ROOTFS, "enclaver.tree", strdup ("second"), count_free, &err);
  TAP_INT_EQ (freed, 1, "replacing a value frees the old one");
  v = enclaver_ctx_take (ctx, ENCLAVER_SLOT_ROOTFS, "enclaver.tree");
  TAP_STR_EQ (v, "second", "take returns the value");
  tap_ok (enclaver_ctx_get (ctx, ENCLAVER_SLOT_ROOTFS, "enclaver.tree") == NULL, "take empties the slot");
  free (v);
  TAP_INT_EQ (enclaver_ctx_set (ctx, 99, "x", strdup ("y"), count_free, &err), -1, "bad slot number rejected");
  TAP_INT_EQ (freed, 2, "rejected value is freed (ownership moved)");
  enclaver_error_release (&err);
  TAP_INT_EQ (enclaver_ctx_set (ctx, ENCLAVER_SLOT_KERNEL, NULL, strdup ("y"), count_free, &err), -1,
              "slot without a type rejected");
  TAP_CONTAINS (err->msg, "kernel", "message names the slot");
  enclaver_error_release (&err);

  enclaver_ctx_set_param (ctx, "platform", "linux/arm64", &err);
  enclaver_ctx_set_param (ctx, "platform", "linux/amd64", &err);
  TAP_STR_EQ (enclaver_ctx_get_param (ctx, "platform"), "linux/amd64", "param overwritten");
  tap_ok (enclaver_ctx_get_param (ctx, "none") == NULL, "missing param is NULL");
  TAP_INT_EQ (enclaver_ctx_set_param (ctx, "", "x", &err), -1, "empty param name rejected");
  enclaver_error_release (&err);

  /* Outputs: temporary until committed. */
  snprintf (final, sizeof final, "%s/app.eif", dir);
  snprintf (final2, sizeof final2, "%s/second.eif", dir);
  fd = enclaver_ctx_output_open (ctx, final, &tmp, &err);
  tap_ok (fd >= 0 && tmp != NULL && strncmp (tmp, final, strlen (final)) == 0, "output opens a temp file beside it");
  tap_ok (write (fd, "EIF", 3) == 3, "write to output");
  close (fd);
  tap_ok (stat (final, &st) < 0 && errno == ENOENT, "final path absent before commit");
  TAP_INT_EQ (enclaver_ctx_output_open (ctx, final, NULL, &err), -1, "same output twice rejected");
  enclaver_error_release (&err);
  TAP_INT_EQ (enclaver_ctx_outputs_commit (ctx, &err), 0, "commit");
  TAP_STR_EQ (slurp (final), "EIF", "committed file has the data");
  tap_ok (stat (tmp, &st) < 0, "temp name gone after commit");
  fd = enclaver_ctx_output_open (ctx, final2, &tmp, &err);
  close (fd);
  enclaver_ctx_outputs_discard (ctx);
  tap_ok (stat (tmp, &st) < 0 && stat (final2, &st) < 0, "discard removes the temp file, no final file");
  snprintf (final2, sizeof final2, "%s/no-such-dir/x.eif", dir);
  TAP_INT_EQ (enclaver_ctx_output_open (ctx, final2, NULL, &err), -1, "output in a missing directory fails");
  TAP_CONTAINS (err->msg, "no-such-dir/x.eif", "error names the output");
  enclaver_error_release (&err);

  /* Hooks. */
  tap_ok (enclaver_hook_event_valid ("before:fetch") && enclaver_hook_event_valid ("after:emit-eif")
              && enclaver_hook_event_valid ("error") && enclaver_hook_event_valid ("done")
              && enclaver_hook_event_valid ("measured") && enclaver_hook_event_valid ("before:*")
              && enclaver_hook_event_valid ("after:lua:stamp"),
          "valid events accepted (also an instance's, after:lua:stamp)");
  tap_ok (!enclaver_hook_event_valid ("before:") && !enclaver_hook_event_valid ("during:fetch")
              && !enclaver_hook_event_valid ("after:Fetch") && !enclaver_hook_event_valid ("")
              && !enclaver_hook_event_valid ("after:lua:") && !enclaver_hook_event_valid ("after::x")
              && !enclaver_hook_event_valid ("after:lua::x"),
          "invalid events rejected");
  TAP_INT_EQ (enclaver_ctx_hook_add (ctx, "sometime", hook_rec, "x", NULL, &err), -1, "bad event refused");
  TAP_CONTAINS (err->msg, "unknown hook event 'sometime'", "message names the event");
  enclaver_error_release (&err);
  enclaver_ctx_hook_add (ctx, "after:fetch", hook_rec, "h1", NULL, &err);
  enclaver_ctx_hook_add (ctx, "after:*", hook_rec, "h2", NULL, &err);
  enclaver_ctx_hook_add (ctx, "after:fetch", hook_rec, "h3", NULL, &err);
  enclaver_ctx_hook_add (ctx, "done", hook_rec, "h4", NULL, &err);
  TAP_INT_EQ (enclaver_ctx_hook_fire (ctx, "after:fetch", &err), 0, "fire after:fetch");
  TAP_STR_EQ (trace, "h1@after:fetch;h2@after:fetch;h3@after:fetch;", "hooks fire in the order added, wildcard too");
  trace[0] = '\0';
  enclaver_ctx_hook_fire (ctx, "after:inject", &err);
  TAP_STR_EQ (trace, "h2@after:inject;", "only matching hooks fire");
  enclaver_ctx_hook_add (ctx, "after:fetch", hook_fail, NULL, NULL, &err);
  enclaver_ctx_hook_add (ctx, "after:fetch", hook_rec, "h5", NULL, &err);
  trace[0] = '\0';
  TAP_INT_EQ (enclaver_ctx_hook_fire (ctx, "after:fetch", &err), -1, "failing hook fails the fire");
  TAP_STR_EQ (err ? err->msg : NULL, "hook after:fetch: PCR0 differs from the pinned value (after:fetch)",
              "hook error wrapped with the event");
  tap_ok (strstr (trace, "h5") == NULL, "hooks after a failure do not run");
  enclaver_error_release (&err);

  enclaver_ctx_free (ctx);
  unlink (final);
  rmdir (dir);
  return tap_done ();
}
