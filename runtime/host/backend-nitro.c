/* enclaver host launcher: the "nitro" backend, struct host_backend over ne_launch(). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <enclaver/log.h>

#include "launcher.h"
#include "ne.h"
#include "qemu-support.h"
#include "streams.h"
#include "transport.h"

#define SRC "run"

/* The console of a debug-mode enclave (EIF.md §6): a vsock stream from the hypervisor,
 * CID 0, port = enclave CID + 10000.  "%u" in the template is replaced by that port. */
#define NITRO_CONSOLE_ADDR_DEFAULT "vsock:0:%u"
#define NITRO_CONSOLE_PORT_OFFSET 10000u
#define NITRO_CONSOLE_ATTEMPTS 6       /* 20, 40, ... 640 ms apart: about 1.3 s in all */
#define NITRO_CONSOLE_FIRST_DELAY_MS 20
#define NITRO_CONSOLE_LINE_MAX 4096

struct nitro
{
  struct host_backend b;
  const struct ne_dev *dev;
  char *heartbeat_addr;
  char *console_addr_fmt; /* NULL: NITRO_CONSOLE_ADDR_DEFAULT */
};

/* What a running enclave holds besides the device's state. */
struct nitro_enclave
{
  struct ne_enclave ne;
  int console_fd; /* debug mode: the console stream, else -1 */
  int watch_fd;   /* debug mode: an epoll set of the enclave fd and the console, else -1 */
  struct host_lines console;
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

/* The console address for an enclave CID: the template with "%u" replaced by the port. */
static int
console_addr (const struct nitro *n, uint64_t cid, char *out, size_t outlen)
{
  const char *fmt = n->console_addr_fmt ? n->console_addr_fmt : NITRO_CONSOLE_ADDR_DEFAULT;
  const char *pct = strstr (fmt, "%u");
  int r;
  if (pct == NULL)
    r = snprintf (out, outlen, "%s", fmt);
  else
    r = snprintf (out, outlen, "%.*s%" PRIu64 "%s", (int) (pct - fmt), fmt, cid + NITRO_CONSOLE_PORT_OFFSET,
                  pct + 2);
  return r >= 0 && (size_t) r < outlen ? 0 : -1;
}

static void
console_line (void *ctx, const char *line, size_t len, int partial)
{
  char buf[NITRO_CONSOLE_LINE_MAX + 1];
  (void) ctx;
  (void) partial;
  if (line == NULL)
    return;
  if (len > NITRO_CONSOLE_LINE_MAX)
    len = NITRO_CONSOLE_LINE_MAX;
  memcpy (buf, line, len);
  buf[len] = '\0';
  qemu_strip_escapes (buf);
  fprintf (stderr, "%s\n", buf);
  fflush (stderr);
}

/* Read what the console has (non-blocking); at its end, flush and close it. */
static void
console_drain (struct nitro_enclave *ne)
{
  char buf[8192];
  while (ne->console_fd >= 0)
    {
      ssize_t r = read (ne->console_fd, buf, sizeof buf);
      if (r > 0)
        {
          host_lines_feed (&ne->console, buf, (size_t) r, console_line, NULL);
          continue;
        }
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
      host_lines_finish (&ne->console, console_line, NULL);
      if (ne->watch_fd >= 0)
        epoll_ctl (ne->watch_fd, EPOLL_CTL_DEL, ne->console_fd, NULL);
      close (ne->console_fd);
      ne->console_fd = -1;
    }
}

/* Debug mode: connect to the console (it may open a moment after START), and watch it
 * together with the enclave fd.  A console that never opens is a warning. */
static void
console_open (struct nitro *n, struct nitro_enclave *ne)
{
  char addr[256], e[256] = "";
  struct epoll_event ev;
  int i, delay = NITRO_CONSOLE_FIRST_DELAY_MS, fd = -1;
  if (console_addr (n, ne->ne.cid, addr, sizeof addr) < 0)
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "debug mode: no console: its address is too long");
      return;
    }
  for (i = 0; i < NITRO_CONSOLE_ATTEMPTS && fd < 0; i++)
    {
      if (i > 0)
        {
          usleep ((useconds_t) delay * 1000);
          delay *= 2;
        }
      fd = enclaver_transport_connect (addr, e, sizeof e);
    }
  if (fd < 0)
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "debug mode: no console at %s after %d attempts: %s", addr,
                    NITRO_CONSOLE_ATTEMPTS, e);
      return;
    }
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
  fcntl (fd, F_SETFD, FD_CLOEXEC);
  ne->watch_fd = epoll_create1 (EPOLL_CLOEXEC);
  memset (&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  if (ne->watch_fd < 0 || epoll_ctl (ne->watch_fd, EPOLL_CTL_ADD, ne->ne.enclave_fd, &ev) < 0
      || epoll_ctl (ne->watch_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
    {
      enclaver_log (ENCLAVER_LOG_WARNING, SRC, "debug mode: no console: epoll: %s", strerror (errno));
      if (ne->watch_fd >= 0)
        close (ne->watch_fd);
      ne->watch_fd = -1;
      close (fd);
      return;
    }
  ne->console_fd = fd;
  host_lines_init (&ne->console, NITRO_CONSOLE_LINE_MAX, 0);
  enclaver_log (ENCLAVER_LOG_DEBUG, SRC, "debug mode: console at %s", addr);
}

static int
nitro_start (struct host_backend *b, const struct host_run_config *c, struct host_enclave *e,
             enclaver_error_t *err)
{
  struct nitro *n = b->self;
  struct ne_launch_params p;
  struct nitro_enclave *ne = calloc (1, sizeof *ne);
  char inst[40];
  if (ne == NULL)
    abort ();
  ne->console_fd = ne->watch_fd = -1;
  to_params (c, n->heartbeat_addr, &p);
  if (ne_launch (n->dev, &p, &ne->ne, err) < 0)
    {
      free (ne);
      return -1;
    }
  if (c->debug_mode)
    console_open (n, ne);
  instance_id (inst, sizeof inst);
  snprintf (e->id, sizeof e->id, "%s-enc%016" PRIx64, inst, ne->ne.slot_uid);
  e->cid = ne->ne.cid;
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

/* The enclave fd, or in debug mode an epoll set of it and the console (one descriptor
 * for the launcher's loop; on_event tells the two apart). */
static int
nitro_event_fd (struct host_backend *b, const struct host_enclave *e)
{
  const struct nitro_enclave *ne = e->backend_state;
  (void) b;
  if (ne == NULL)
    return -1;
  return ne->watch_fd >= 0 ? ne->watch_fd : ne->ne.enclave_fd;
}

static int
nitro_on_event (struct host_backend *b, struct host_enclave *e)
{
  struct nitro_enclave *ne = e->backend_state;
  struct pollfd pfd;
  (void) b;
  if (ne == NULL || ne->ne.enclave_fd < 0)
    return 1;
  console_drain (ne);
  pfd.fd = ne->ne.enclave_fd;
  pfd.events = POLLIN;
  pfd.revents = 0;
  if (poll (&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)))
    {
      console_drain (ne);
      return 1; /* the driver's event: the enclave has ended */
    }
  return 0;
}

static void
nitro_terminate (struct host_backend *b, struct host_enclave *e)
{
  struct nitro_enclave *ne = e->backend_state;
  (void) b;
  if (ne == NULL)
    return;
  if (ne->console_fd >= 0)
    {
      console_drain (ne); /* what the console sent before the end */
      if (ne->console_fd >= 0)
        {
          host_lines_finish (&ne->console, console_line, NULL);
          close (ne->console_fd);
        }
      host_lines_free (&ne->console);
    }
  else if (ne->console.buf != NULL)
    host_lines_free (&ne->console);
  if (ne->watch_fd >= 0)
    close (ne->watch_fd);
  ne_enclave_close (&ne->ne);
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
  free (n->console_addr_fmt);
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

void
host_backend_nitro_set_console (struct host_backend *b, const char *addr_fmt)
{
  struct nitro *n = b->self;
  free (n->console_addr_fmt);
  n->console_addr_fmt = NULL;
  if (addr_fmt != NULL && (n->console_addr_fmt = strdup (addr_fmt)) == NULL)
    abort ();
}
