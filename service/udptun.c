/* SPDX-License-Identifier: GPL-2.0-or-later */
/* udptun.c — UDP and ping between the datagram device and the session. */
#include "config.h"

#include "udptun.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "pktcodec.h"
#include "subnet.h"
#include "tunwrite.h"

/* Datagrams read per wake-up: the rest waits in the device for the next
 * round of the main loop, so a flood cannot starve the session, and the
 * session's output takes them in steps it has room for. Counted in
 * datagrams, not reads: one read of a UDP_SEGMENT run holds up to 64, and
 * 64 such reads at once overflowed the in-flight limit (15% of a 1.2
 * Gbit/s GSO sender's datagrams dropped, against 0.1-0.3% a datagram per
 * read). */
#define READ_BATCH 64

typedef struct
{
  guint8 family; /* 4 or 6 */
  guint8 kind;   /* SH_PKT_KIND_* */
  guint16 id;    /* source port or echo identifier */
  guint8 addr[16];
} FlowKey;

typedef struct
{
  FlowKey key;
  guint32 assoc;
  gint64 last; /* monotonic µs of the last datagram either way */
  GList link;  /* in tun->lru, least recently used first */
} Flow;

struct _ShUdpTun
{
  ShPollWatch watch;
  ShPoll *poll;
  int fd;
  ShUdpTunConfig config;
  ShSession *session;
  GHashTable *by_key;   /* FlowKey -> Flow (owned) */
  GHashTable *by_assoc; /* assoc -> Flow */
  GQueue lru;
  guint timer;
  gboolean echo_refused_said;
  gboolean limit_said;
  ShUdpTunStats stats; /* what the writer counts not included */
  ShTunWriter *writer;
  gsize hdr;   /* the device's header before each packet (tunwrite.h) */
  guint8 *buf; /* hdr + SH_PKT_MAX: one packet read */
};

static guint
key_hash (gconstpointer p)
{
  const FlowKey *k = p;
  guint h = (guint) k->family << 24 ^ (guint) k->kind << 16 ^ k->id;

  for (guint i = 0; i < (k->family == 4 ? 4u : 16u); i++)
    h = h * 31 + k->addr[i];
  return h;
}

static gboolean
key_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, sizeof (FlowKey)) == 0;
}

static int
af (guint8 family)
{
  return family == 4 ? AF_INET : AF_INET6;
}

static void
flow_forget (ShUdpTun *t, Flow *f)
{
  g_queue_unlink (&t->lru, &f->link);
  g_hash_table_remove (t->by_assoc, GUINT_TO_POINTER (f->assoc));
  g_hash_table_remove (t->by_key, &f->key); /* frees f */
}

/* Ends @f: DGRAM_CLOSE to the server, the flow forgotten. */
static void
flow_close (ShUdpTun *t, Flow *f)
{
  if (t->session != NULL)
    sh_session_dgram_close (t->session, f->assoc, SH_DGRAM_CLOSE_DONE, 0);
  flow_forget (t, f);
}

static void
flow_touch (ShUdpTun *t, Flow *f)
{
  f->last = g_get_monotonic_time ();
  g_queue_unlink (&t->lru, &f->link);
  g_queue_push_tail_link (&t->lru, &f->link);
}

static gint64
timeout_us (const ShUdpTun *t, const Flow *f)
{
  return (gint64) (f->key.kind == SH_PKT_KIND_ECHO ? t->config.echo_timeout_s
                                                   : t->config.udp_timeout_s)
         * G_USEC_PER_SEC;
}

/* Once a second: the flows idle for their timeout end. The queue is in
 * order of last use, but UDP and echo timeouts differ, so the whole queue
 * is looked at while its head is older than the shorter timeout. */
static gboolean
on_tick (gpointer data)
{
  ShUdpTun *t = data;
  gint64 now = g_get_monotonic_time ();
  GList *l = t->lru.head;

  while (l != NULL)
    {
      Flow *f = l->data;
      GList *next = l->next;

      if (now - f->last
          < (gint64) MIN (t->config.udp_timeout_s, t->config.echo_timeout_s) * G_USEC_PER_SEC)
        break;
      if (now - f->last >= timeout_us (t, f))
        flow_close (t, f);
      l = next;
    }
  return G_SOURCE_CONTINUE;
}

static Flow *
flow_get (ShUdpTun *t, const ShPacket *p)
{
  FlowKey key = { .family = p->family, .kind = p->kind, .id = p->sport };
  Flow *f;
  guint32 assoc;

  memcpy (key.addr, p->src, p->family == 4 ? 4 : 16);
  f = g_hash_table_lookup (t->by_key, &key);
  if (f != NULL)
    return f;
  if (g_hash_table_size (t->by_key) >= SH_UDP_TUN_MAX_FLOWS)
    flow_close (t, t->lru.head->data);
  assoc = sh_session_dgram_open (t->session, af (p->family),
                                 p->kind == SH_PKT_KIND_UDP ? SH_DGRAM_UDP : SH_DGRAM_ECHO);
  if (assoc == 0)
    return NULL;
  f = g_new0 (Flow, 1);
  f->key = key;
  f->assoc = assoc;
  f->link.data = f;
  g_hash_table_insert (t->by_key, &f->key, f);
  g_hash_table_insert (t->by_assoc, GUINT_TO_POINTER (assoc), f);
  g_queue_push_tail_link (&t->lru, &f->link);
  return f;
}

/* @gso_size: not 0 when the packet is a local sender's UDP_SEGMENT run
 * (the device's USO offload, tunwrite.h): datagrams of that size but the
 * last, each relayed as its own DGRAM. */
static guint
relay_packet (ShUdpTun *t, const guint8 *pkt, gsize len, gsize gso_size)
{
  ShPacket p;
  ShPktResult r = sh_pkt_parse (pkt, len, &p);
  ShDgram d = { 0 };
  gsize seg, n;
  Flow *f;

  if (r != SH_PKT_OK)
    {
      /* Router solicitations and MLD reports of the device itself are
       * "other": not counted as the user's loss. */
      if (r != SH_PKT_OTHER)
        {
          t->stats.dropped_in++;
          if (r == SH_PKT_FRAGMENT || r == SH_PKT_EXTENSION)
            t->stats.fragments++;
          sh_debug ("datagram device: dropped a packet (%s)", sh_pkt_result_name (r));
        }
      return 1;
    }
  seg = p.kind == SH_PKT_KIND_UDP && gso_size > 0 ? gso_size : MAX (p.payload_len, 1);
  n = MAX ((p.payload_len + seg - 1) / seg, 1);
  if (t->session == NULL || MIN (seg, p.payload_len) > SH_MUX_MAX_DGRAM_DATA
      || (f = flow_get (t, &p)) == NULL)
    {
      t->stats.dropped_in += n;
      return (guint) n;
    }
  d.family = af (p.family);
  d.kind = p.kind == SH_PKT_KIND_UDP ? SH_DGRAM_UDP : SH_DGRAM_ECHO;
  /* UDP: the destination port; echo: the sequence number. */
  d.port = p.dport;
  memcpy (d.addr, p.dst, p.family == 4 ? 4 : 16);
  flow_touch (t, f);
  for (gsize i = 0; i < n; i++)
    {
      d.data = p.payload + i * seg;
      d.data_len = (guint16) MIN (seg, p.payload_len - i * seg);
      if (sh_session_send_dgram (t->session, f->assoc, &d))
        {
          t->stats.packets_in++;
          t->stats.bytes_in += d.data_len;
        }
      else
        t->stats.dropped_in++;
    }
  return (guint) n;
}

/* What the device's header says of the @n bytes read into t->buf: 0, one
 * datagram; the datagrams' size of a UDP_SEGMENT run; -1, nothing we take
 * (too short, or another segmentation, which no offload we set asks for). */
static gssize
read_gso_size (const ShUdpTun *t, gsize n)
{
  const struct virtio_net_hdr *vh = (const struct virtio_net_hdr *) t->buf;

  if (t->hdr == 0)
    return 0;
  if (n < t->hdr)
    return -1;
  /* Host byte order: the device is neither TUNSETVNETLE nor BE. */
  if (vh->gso_type == VIRTIO_NET_HDR_GSO_UDP_L4)
    return vh->gso_size;
  return vh->gso_type == VIRTIO_NET_HDR_GSO_NONE ? 0 : -1;
}

static void
on_readable (ShPollWatch *watch, guint32 events)
{
  ShUdpTun *t = (ShUdpTun *) watch;

  for (guint done = 0; done < READ_BATCH;)
    {
      ssize_t n = read (t->fd, t->buf, t->hdr + SH_PKT_MAX);
      gssize gso_size;

      if (n < 0)
        {
          if (errno != EAGAIN && errno != EINTR)
            sh_debug ("datagram device: read: %s", g_strerror (errno));
          return;
        }
      gso_size = read_gso_size (t, (gsize) n);
      if (gso_size < 0)
        {
          t->stats.dropped_in++;
          done++;
          continue;
        }
      done += relay_packet (t, t->buf + t->hdr, (gsize) n - t->hdr, (gsize) gso_size);
    }
}

ShUdpTun *
sh_udp_tun_new (ShPoll *poll, int fd, const ShUdpTunConfig *config)
{
  ShUdpTun *t = g_new0 (ShUdpTun, 1);

  t->watch.func = on_readable;
  t->poll = poll;
  t->fd = fd;
  t->config = *config;
  t->config.subnets = g_array_ref (config->subnets);
  t->config.excludes = g_array_ref (config->excludes);
  t->by_key = g_hash_table_new_full (key_hash, key_equal, NULL, g_free);
  t->by_assoc = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_queue_init (&t->lru);
  t->writer = sh_tun_writer_new (fd);
  t->hdr = sh_tun_writer_header_len (t->writer);
  t->buf = g_malloc (t->hdr + SH_PKT_MAX);
  return t;
}

void
sh_udp_tun_attach (ShUdpTun *t, ShSession *session)
{
  sh_udp_tun_detach (t);
  t->session = session;
  sh_poll_add (t->poll, t->fd, EPOLLIN, &t->watch);
  t->timer = g_timeout_add_seconds (1, on_tick, t);
}

void
sh_udp_tun_detach (ShUdpTun *t)
{
  if (t->session == NULL)
    return;
  sh_tun_writer_flush (t->writer);
  sh_poll_remove (t->poll, t->fd);
  g_clear_handle_id (&t->timer, g_source_remove);
  t->session = NULL;
  while (t->lru.head != NULL)
    flow_forget (t, t->lru.head->data);
}

/* Whether a datagram from @d's address (and UDP port) may reach a local
 * program: inside a tunnelled subnet and in no exclude. */
static gboolean
source_allowed (const ShUdpTun *t, const ShDgram *d)
{
  gboolean udp = d->kind == SH_DGRAM_UDP;
  gboolean inside = FALSE;

  for (guint i = 0; i < t->config.excludes->len; i++)
    {
      const ShSubnet *s = &g_array_index (t->config.excludes, ShSubnet, i);

      if ((udp || s->port_hi == 0) && sh_subnet_contains (s, d->family, d->addr, udp ? d->port : 0))
        return FALSE;
    }
  for (guint i = 0; i < t->config.subnets->len && !inside; i++)
    {
      const ShSubnet *s = &g_array_index (t->config.subnets, ShSubnet, i);

      inside = (udp || s->port_hi == 0)
               && sh_subnet_contains (s, d->family, d->addr, udp ? d->port : 0);
    }
  return inside;
}

void
sh_udp_tun_dgram (ShUdpTun *t, guint32 assoc, const ShDgram *d)
{
  Flow *f = g_hash_table_lookup (t->by_assoc, GUINT_TO_POINTER (assoc));
  ShPacket p = { 0 };

  if (f == NULL || d->family != af (f->key.family))
    return;
  if (!source_allowed (t, d))
    {
      t->stats.dropped_out++;
      sh_debug ("datagram from outside the tunnelled subnets dropped");
      return;
    }
  p.family = f->key.family;
  p.kind = f->key.kind;
  memcpy (p.src, d->addr, p.family == 4 ? 4 : 16);
  memcpy (p.dst, f->key.addr, p.family == 4 ? 4 : 16);
  if (p.kind == SH_PKT_KIND_UDP)
    {
      p.sport = d->port;
      p.dport = f->key.id;
    }
  else
    {
      p.sport = f->key.id; /* the local ping's identifier, not the server's */
      p.dport = d->port;   /* the sequence number */
    }
  p.payload = d->data;
  p.payload_len = d->data_len;
  flow_touch (t, f);
  sh_tun_writer_put (t->writer, &p);
}

void
sh_udp_tun_flush (ShUdpTun *t)
{
  sh_tun_writer_flush (t->writer);
}

void
sh_udp_tun_dgram_close (ShUdpTun *t, guint32 assoc, ShDgramCloseReason reason, int err)
{
  Flow *f = g_hash_table_lookup (t->by_assoc, GUINT_TO_POINTER (assoc));

  if (reason == SH_DGRAM_CLOSE_NO_ECHO && !t->echo_refused_said)
    {
      t->echo_refused_said = TRUE;
      sh_notice ("ping is not permitted on the server (%s): its net.ipv4.ping_group_range does "
                 "not include the user",
                 g_strerror (err != 0 ? err : EACCES));
    }
  else if (reason == SH_DGRAM_CLOSE_LIMIT && !t->limit_said)
    {
      t->limit_said = TRUE;
      sh_info ("the server has as many UDP associations as it allows: datagrams of new local "
               "senders are dropped for now");
    }
  else if (reason == SH_DGRAM_CLOSE_FAILED)
    sh_debug ("the server closed a datagram association: %s", g_strerror (err));
  /* The session answered and freed the number already. */
  if (f != NULL)
    flow_forget (t, f);
}

void
sh_udp_tun_get_stats (ShUdpTun *t, ShUdpTunStats *stats)
{
  ShTunWriterStats w;

  sh_tun_writer_get_stats (t->writer, &w);
  *stats = t->stats;
  stats->packets_out = w.packets;
  stats->bytes_out = w.bytes;
  stats->grouped_out = w.grouped;
  stats->writes_out = w.writes;
  stats->dropped_out += w.dropped;
  stats->flows = g_hash_table_size (t->by_key);
}

void
sh_udp_tun_free (ShUdpTun *t)
{
  ShUdpTunStats st;

  if (t == NULL)
    return;
  sh_udp_tun_detach (t);
  sh_udp_tun_get_stats (t, &st);
  if (st.packets_in || st.packets_out || st.dropped_in || st.dropped_out)
    sh_debug ("datagram device: %" G_GUINT64_FORMAT " packets relayed in, %" G_GUINT64_FORMAT
              " out (%" G_GUINT64_FORMAT " in UDP GSO groups, %" G_GUINT64_FORMAT
              " writes); dropped %" G_GUINT64_FORMAT " in (%" G_GUINT64_FORMAT
              " fragments), %" G_GUINT64_FORMAT " out",
              st.packets_in, st.packets_out, st.grouped_out, st.writes_out, st.dropped_in,
              st.fragments, st.dropped_out);
  sh_tun_writer_free (t->writer);
  g_hash_table_unref (t->by_assoc);
  g_hash_table_unref (t->by_key);
  g_array_unref (t->config.subnets);
  g_array_unref (t->config.excludes);
  close (t->fd);
  g_free (t->buf);
  g_free (t);
}
