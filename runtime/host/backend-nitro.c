/* enclaver host launcher: the "nitro" backend, struct host_backend over ne_launch(). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launcher.h"
#include "ne.h"

struct nitro
{
  struct host_backend b;
  const struct ne_dev *dev;
  char *heartbeat_addr;
};

static void
to_params (const struct host_run_config *c, const char *hb, struct ne_launch_params *p)
{
  memset (p, 0, sizeof *p);
  p->eif_path = c->eif_path;
  p->eif_size = c->eif_size;
  p->memory_mib = c->memory_mib;
  p->cpu_count = c->cpu_count;
  p->cpu_ids = c->cpu_ids;
  p->n_cpu_ids = c->n_cpu_ids;
  p->enclave_cid = c->enclave_cid;
  p->debug_mode = c->debug_mode;
  p->heartbeat_addr = hb;
}

static int
nitro_check (struct host_backend *b, const struct host_run_config *c, enclaver_error_t *err)
{
  struct nitro *n = b->self;
  struct ne_launch_params p;
  to_params (c, n->heartbeat_addr, &p);
  if (ne_check_params (&p, c->arch, err) < 0)
    return -1;
  return ne_preflight (n->dev, &p, err);
}

/* The EC2 instance ID (nitro-cli reads it from the DMI board asset tag), or "i-unknown". */
static void
instance_id (char *buf, size_t len)
{
  int fd = open ("/sys/devices/virtual/dmi/id/board_asset_tag", O_RDONLY | O_CLOEXEC);
  ssize_t r = -1;
  snprintf (buf, len, "i-unknown");
  if (fd < 0)
    return;
  if (len > 1)
    r = read (fd, buf, len - 1);
  close (fd);
  if (r <= 0 || strncmp (buf, "i-", 2) != 0)
    {
      snprintf (buf, len, "i-unknown");
      return;
    }
  buf[r] = '\0';
  buf[strcspn (buf, " \n")] = '\0';
}

static int
nitro_start (struct host_backend *b, const struct host_run_config *c, struct host_enclave *e,
             enclaver_error_t *err)
{
  struct nitro *n = b->self;
  struct ne_launch_params p;
  struct ne_enclave *ne = calloc (1, sizeof *ne);
  char inst[40];
  if (ne == NULL)
    abort ();
  to_params (c, n->heartbeat_addr, &p);
  if (ne_launch (n->dev, &p, ne, err) < 0)
    {
      free (ne);
      return -1;
    }
  instance_id (inst, sizeof inst);
  snprintf (e->id, sizeof e->id, "%s-enc%016" PRIx64, inst, ne->slot_uid);
  e->cid = ne->cid;
  e->pid = getpid ();
  e->backend_state = ne;
  return 0;
}

static int
nitro_enclave_addr (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out,
                    size_t outlen)
{
  (void) b;
  return snprintf (out, outlen, "vsock:%" PRIu64 ":%" PRIu32, e->cid, port) < (int) outlen ? 0 : -1;
}

static int
nitro_host_addr (struct host_backend *b, const struct host_enclave *e, uint32_t port, char *out,
                 size_t outlen)
{
  (void) b;
  (void) e;
  return snprintf (out, outlen, "vsock:any:%" PRIu32, port) < (int) outlen ? 0 : -1;
}

static int
nitro_event_fd (struct host_backend *b, const struct host_enclave *e)
{
  const struct ne_enclave *ne = e->backend_state;
  (void) b;
  return ne ? ne->enclave_fd : -1;
}

static int
nitro_on_event (struct host_backend *b, struct host_enclave *e)
{
  const struct ne_enclave *ne = e->backend_state;
  struct pollfd pfd;
  (void) b;
  if (ne == NULL || ne->enclave_fd < 0)
    return 1;
  pfd.fd = ne->enclave_fd;
  pfd.events = POLLIN;
  pfd.revents = 0;
  if (poll (&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)))
    return 1; /* the driver's event: the enclave has ended */
  return 0;
}

static void
nitro_terminate (struct host_backend *b, struct host_enclave *e)
{
  struct ne_enclave *ne = e->backend_state;
  (void) b;
  if (ne == NULL)
    return;
  ne_enclave_close (ne);
  free (ne);
  e->backend_state = NULL;
}

static void
nitro_destroy (struct host_backend *b)
{
  struct nitro *n;
  if (b == NULL)
    return;
  n = b->self;
  free (n->heartbeat_addr);
  free (n);
}

struct host_backend *
host_backend_nitro_new (const struct ne_dev *dev, const char *heartbeat_addr)
{
  struct nitro *n = calloc (1, sizeof *n);
  if (n == NULL)
    abort ();
  n->dev = dev ? dev : &ne_dev_real;
  if (heartbeat_addr != NULL && (n->heartbeat_addr = strdup (heartbeat_addr)) == NULL)
    abort ();
  n->b.name = "nitro";
  n->b.self = n;
  n->b.check = nitro_check;
  n->b.start = nitro_start;
  n->b.enclave_addr = nitro_enclave_addr;
  n->b.host_addr = nitro_host_addr;
  n->b.event_fd = nitro_event_fd;
  n->b.on_event = nitro_on_event;
  n->b.terminate = nitro_terminate;
  n->b.destroy = nitro_destroy;
  return &n->b;
}
