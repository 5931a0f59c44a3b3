/* delayline: a wire of fixed length between two network devices.
 *
 *   delayline IFACE_A IFACE_B DELAY_MS [QUEUE_MIB [drop]]
 *
 * Every frame that arrives on IFACE_A leaves on IFACE_B DELAY_MS later, and
 * the other way round: a link with a round trip of 2 x DELAY_MS. This
 * kernel has no sch_netem, so bench/ uses this in a namespace of its own
 * between the client and the gateway (netlab.Lab(wan=...)); the rate limit
 * of the link is a tbf qdisc on the two devices' egress, after the delay,
 * as in a real path where the bottleneck queue sits behind the propagation
 * delay.
 *
 * Why AF_PACKET with PACKET_VNET_HDR: veth hands over whole GSO frames (up
 * to 64 KiB), and with the virtio-net header they are read and written
 * whole, so at 1 Gbit/s the line moves some thousand frames per second, not
 * 80 000, and is not itself the bottleneck (bench/bench.py's "direct" row
 * measures a transfer through it with no tunnel, in the same run). The
 * frame bytes are not looked at.
 *
 * The delay is the same for every frame, so each direction is a FIFO: a
 * byte ring holding [due time, length, virtio header + frame]. A full ring
 * drops the new frame (a bounded buffer, counted and printed at exit, and
 * on SIGUSR1: bench/shaped.py takes each row's share).
 *
 * "drop": a frame the device's qdisc refuses (ENOBUFS: tbf's 20 ms queue
 * is full) is lost, as at a real bottleneck. Without it the line keeps the
 * frame and tries again, so the ring (64 MiB) queues behind the tbf: a
 * TCP sender rarely notices, but a UDP flood then waits seconds in the
 * line instead of being dropped (bench/shaped.py --udp uses "drop").
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX (65536 + sizeof (struct virtio_net_hdr))

struct entry
{
  uint64_t due_ns;
  uint32_t len;
  uint32_t pad;
};

struct dir
{
  int in, out;      /* packet sockets: read from in, write to out */
  unsigned char *ring;
  size_t cap, head, tail, used; /* bytes; entries never wrap (see push) */
  unsigned long long frames, bytes, dropped, send_err, refused;
};

static volatile sig_atomic_t stop, report;
static int drop_refused; /* "drop": ENOBUFS loses the frame */

static void
on_signal (int sig)
{
  if (sig == SIGUSR1)
    report = 1;
  else
    stop = 1;
}

static void
print_counters (struct dir *dirs, char **argv)
{
  for (int i = 0; i < 2; i++)
    fprintf (stderr,
             "delayline: %s -> %s: %llu frames, %llu bytes, %llu dropped, %llu refused by the "
             "qdisc, %llu send errors\n",
             argv[1 + i], argv[2 - i], dirs[i].frames, dirs[i].bytes, dirs[i].dropped,
             dirs[i].refused, dirs[i].send_err);
  fflush (stderr);
}

static uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static int
open_dev (const char *name)
{
  int fd = socket (AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons (ETH_P_ALL));
  if (fd < 0)
    {
      perror ("socket(AF_PACKET)");
      exit (1);
    }
  unsigned ifindex = if_nametoindex (name);
  if (ifindex == 0)
    {
      fprintf (stderr, "delayline: no device %s\n", name);
      exit (1);
    }
  int one = 1;
  if (setsockopt (fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0)
    {
      perror ("PACKET_VNET_HDR");
      exit (1);
    }
  /* Our own writes to a device must not come back to us as reads. */
  if (setsockopt (fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0)
    {
      perror ("PACKET_IGNORE_OUTGOING");
      exit (1);
    }
  int buf = 8 << 20;
  setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
  setsockopt (fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf);
  struct packet_mreq mr = { .mr_ifindex = (int) ifindex, .mr_type = PACKET_MR_PROMISC };
  setsockopt (fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr);
  struct sockaddr_ll sll = { .sll_family = AF_PACKET,
                             .sll_protocol = htons (ETH_P_ALL),
                             .sll_ifindex = (int) ifindex };
  if (bind (fd, (struct sockaddr *) &sll, sizeof sll) < 0)
    {
      perror ("bind(AF_PACKET)");
      exit (1);
    }
  return fd;
}

/* Room for one more entry of at most FRAME_MAX at the write end? Entries
 * are contiguous: when the tail part of the buffer is too short, the writer
 * wraps to 0 and the reader follows (an entry with len 0 marks the jump). */
static unsigned char *
reserve (struct dir *d)
{
  size_t need = sizeof (struct entry) + FRAME_MAX;
  if (d->used >= d->cap)
    return NULL; /* full to the byte: head caught up with tail */
  if (d->used == 0)
    d->head = d->tail = 0;
  if (d->head >= d->tail && d->used > 0)
    {
      /* [tail .. head) used; free is [head .. cap) and [0 .. tail) */
      if (d->cap - d->head >= need)
        return d->ring + d->head;
      if (d->tail > need)
        {
          if (d->cap - d->head >= sizeof (struct entry))
            ((struct entry *) (d->ring + d->head))->len = 0;
          d->used += d->cap - d->head;
          d->head = 0;
          return d->ring;
        }
      return NULL;
    }
  if (d->used == 0)
    return d->ring;
  /* head < tail: free is [head .. tail) */
  return d->tail - d->head > need ? d->ring + d->head : NULL;
}

static void
pump_in (struct dir *d, uint64_t delay_ns)
{
  for (int n = 0; n < 256; n++)
    {
      unsigned char *slot = reserve (d);
      unsigned char scratch[FRAME_MAX];
      unsigned char *dst = slot ? slot + sizeof (struct entry) : scratch;
      ssize_t r = recv (d->in, dst, FRAME_MAX, 0);
      if (r < 0)
        return; /* EAGAIN, or a transient error: poll again */
      if (!slot)
        {
          d->dropped++;
          continue;
        }
      struct entry *e = (struct entry *) slot;
      e->due_ns = now_ns () + delay_ns;
      e->len = (uint32_t) r;
      size_t sz = (sizeof (struct entry) + (size_t) r + 7) & ~(size_t) 7;
      d->head += sz;
      d->used += sz;
      if (d->head == d->cap)
        d->head = 0;
    }
}

/* Send what is due; returns ns until the next entry is due, or -1. */
static int64_t
pump_out (struct dir *d, uint64_t t)
{
  while (d->used > 0)
    {
      if (d->cap - d->tail < sizeof (struct entry) ||
          ((struct entry *) (d->ring + d->tail))->len == 0)
        {
          d->used -= d->cap - d->tail;
          d->tail = 0;
          continue;
        }
      struct entry *e = (struct entry *) (d->ring + d->tail);
      if (e->due_ns > t)
        return (int64_t) (e->due_ns - t);
      if (send (d->out, d->ring + d->tail + sizeof *e, e->len, 0) < 0)
        {
          if (errno == EAGAIN || (errno == ENOBUFS && !drop_refused))
            return 100000; /* the device's queue is full: the rate limit */
          if (errno == ENOBUFS)
            d->refused++; /* the bottleneck's queue dropped it */
          else
            d->send_err++;
        }
      else
        {
          d->frames++;
          d->bytes += e->len;
        }
      size_t sz = (sizeof *e + e->len + 7) & ~(size_t) 7;
      d->tail += sz;
      d->used -= sz;
      if (d->tail == d->cap)
        d->tail = 0;
    }
  return -1;
}

int
main (int argc, char **argv)
{
  if (argc < 4 || argc > 6 || (argc == 6 && strcmp (argv[5], "drop") != 0))
    {
      fprintf (stderr, "usage: delayline IFACE_A IFACE_B DELAY_MS [QUEUE_MIB [drop]]\n"
                       "  holds every frame DELAY_MS before passing it on, both ways\n");
      return 2;
    }
  double delay_ms = atof (argv[3]);
  size_t mib = argc >= 5 ? (size_t) atoi (argv[4]) : 64;
  drop_refused = argc == 6;
  if (delay_ms < 0 || delay_ms > 10000 || mib < 1 || mib > 4096)
    {
      fprintf (stderr, "delayline: DELAY_MS 0..10000, QUEUE_MIB 1..4096\n");
      return 2;
    }
  uint64_t delay_ns = (uint64_t) (delay_ms * 1e6);
  int a = open_dev (argv[1]), b = open_dev (argv[2]);
  struct dir dirs[2] = { { .in = a, .out = b }, { .in = b, .out = a } };
  for (int i = 0; i < 2; i++)
    {
      dirs[i].cap = mib << 20;
      dirs[i].ring = malloc (dirs[i].cap);
      if (!dirs[i].ring)
        return 1;
    }
  signal (SIGTERM, on_signal);
  signal (SIGINT, on_signal);
  signal (SIGUSR1, on_signal);
  fprintf (stderr, "delayline: %s <-> %s, %.3f ms each way\n", argv[1], argv[2], delay_ms);

  while (!stop)
    {
      if (report)
        {
          report = 0;
          print_counters (dirs, argv);
        }
      uint64_t t = now_ns ();
      int64_t wait = -1;
      for (int i = 0; i < 2; i++)
        {
          int64_t w = pump_out (&dirs[i], t);
          if (w >= 0 && (wait < 0 || w < wait))
            wait = w;
        }
      struct pollfd p[2] = { { .fd = a, .events = POLLIN }, { .fd = b, .events = POLLIN } };
      struct timespec ts, *tsp = NULL;
      if (wait >= 0)
        {
          ts.tv_sec = wait / 1000000000;
          ts.tv_nsec = wait % 1000000000;
          tsp = &ts;
        }
      if (ppoll (p, 2, tsp, NULL) < 0 && errno != EINTR)
        break;
      if (p[0].revents & POLLIN)
        pump_in (&dirs[0], delay_ns);
      if (p[1].revents & POLLIN)
        pump_in (&dirs[1], delay_ns);
    }
  print_counters (dirs, argv);
  return 0;
}
