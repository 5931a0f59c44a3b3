/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tunwrite.c — packets into the datagram device, grouped where it can. */
#include "config.h"

#include "tunwrite.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

struct _ShTunWriter
{
  int fd;
  gsize hdr;    /* sizeof (struct virtio_net_hdr), or 0 */
  gboolean gso; /* groups of more than one datagram */
  guint8 *buf;  /* hdr + SH_PKT_MAX: the packet being built or waiting */
  /* The run waiting in buf: its addresses and ports, payload_len the bytes
   * of all its datagrams, which lie one after the other after the headers;
   * each but the last is seg bytes long. */
  ShPacket run;
  gsize seg;
  guint n; /* datagrams waiting (0: none) */
  guint idle_id;
  ShTunWriterStats stats;
};

static gsize
udp_headers (guint8 family)
{
  return family == 4 ? SH_PKT_UDP4_HDR : SH_PKT_UDP6_HDR;
}

/* Turns on the device's offloads for what local programs send into it:
 * checksums, and from Linux 6.2 UDP segmentation (USO). Returns whether
 * USO is on: a kernel that knows it takes GSO_UDP_L4 writes too (both came
 * in 6.2). */
static gboolean
offloads_on (int fd)
{
  if (ioctl (fd, TUNSETOFFLOAD, (unsigned long) (TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6)) == 0)
    return TRUE;
  if (ioctl (fd, TUNSETOFFLOAD, (unsigned long) TUN_F_CSUM) < 0)
    sh_debug ("datagram device: no checksum offload: %s", g_strerror (errno));
  return FALSE;
}

ShTunWriter *
sh_tun_writer_new (int fd)
{
  ShTunWriter *w = g_new0 (ShTunWriter, 1);
  struct ifreq ifr = { 0 };

  w->fd = fd;
  if (ioctl (fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR))
    {
      w->hdr = sizeof (struct virtio_net_hdr);
      w->gso = offloads_on (fd);
    }
  w->buf = g_malloc0 (w->hdr + SH_PKT_MAX);
  sh_debug ("datagram device: %s", w->hdr == 0 ? "no offloads (no virtio header)"
                                   : w->gso    ? "checksum offload and UDP GSO"
                                               : "checksum offload, no UDP GSO (kernel < 6.2)");
  return w;
}

gsize
sh_tun_writer_header_len (ShTunWriter *w)
{
  return w->hdr;
}

void
sh_tun_writer_set_gso (ShTunWriter *w, gboolean gso)
{
  sh_tun_writer_flush (w);
  w->gso = gso && w->hdr > 0;
}

/* Writes the @len bytes of packet at @at + hdr after a header @vh. */
static gboolean
write_packet (ShTunWriter *w, guint8 *at, gsize len, const struct virtio_net_hdr *vh)
{
  if (w->hdr > 0)
    memcpy (at, vh, sizeof *vh);
  if (write (w->fd, at, w->hdr + len) != (ssize_t) (w->hdr + len))
    return FALSE;
  w->stats.writes++;
  return TRUE;
}

/* The UDP packet @p whose payload lies at @at + hdr + its headers: headers
 * built before it, checksum partial; a GSO group of @seg-byte datagrams
 * when @seg is not 0. */
static gboolean
write_udp (ShTunWriter *w, guint8 *at, const ShPacket *p, gsize seg)
{
  struct virtio_net_hdr vh = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
  gsize hlen = sh_pkt_build_udp_headers (p, at + w->hdr);

  if (hlen == 0)
    {
      errno = EMSGSIZE;
      return FALSE;
    }
  /* Host byte order: the device is neither TUNSETVNETLE nor BE. */
  vh.csum_start = (guint16) (hlen - 8);
  vh.csum_offset = 6;
  if (seg > 0)
    {
      vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
      vh.gso_size = (guint16) seg;
      vh.hdr_len = (guint16) hlen;
    }
  return write_packet (w, at, hlen + p->payload_len, &vh);
}

/* The run in buf, datagram by datagram: each one's headers are built over
 * the end of the one before, which is written already. */
static void
write_singly (ShTunWriter *w, guint n)
{
  ShPacket one = w->run;

  for (guint i = 0; i < n; i++)
    {
      one.payload_len = i + 1 < n ? w->seg : w->run.payload_len - w->seg * (n - 1);
      if (write_udp (w, w->buf + i * w->seg, &one, 0))
        {
          w->stats.packets++;
          w->stats.bytes += one.payload_len;
        }
      else
        w->stats.dropped++;
    }
}

void
sh_tun_writer_flush (ShTunWriter *w)
{
  guint n = w->n;

  if (n == 0)
    return;
  w->n = 0;
  if (write_udp (w, w->buf, &w->run, n > 1 ? w->seg : 0))
    {
      w->stats.packets += n;
      w->stats.bytes += w->run.payload_len;
      if (n > 1)
        w->stats.grouped += n;
    }
  else if (n > 1 && errno == EINVAL)
    {
      /* Refused as a group although offloads_on() found USO: not again in
       * this device's life. */
      sh_debug ("datagram device: the kernel refused a UDP GSO group; datagrams go alone");
      w->gso = FALSE;
      write_singly (w, n);
    }
  else
    w->stats.dropped += n;
}

static gboolean
on_idle (gpointer data)
{
  ShTunWriter *w = data;

  w->idle_id = 0;
  sh_tun_writer_flush (w);
  return G_SOURCE_REMOVE;
}

/* Whether @p continues the run that waits. */
static gboolean
run_takes (const ShTunWriter *w, const ShPacket *p)
{
  const ShPacket *r = &w->run;
  gsize alen = p->family == 4 ? 4 : 16;

  return w->n > 0 && p->family == r->family && p->sport == r->sport && p->dport == r->dport
         && p->payload_len > 0 && p->payload_len <= w->seg
         && r->payload_len + p->payload_len <= SH_PKT_GSO_BYTES_MAX
         && memcmp (p->src, r->src, alen) == 0 && memcmp (p->dst, r->dst, alen) == 0;
}

void
sh_tun_writer_put (ShTunWriter *w, const ShPacket *p)
{
  if (p->kind != SH_PKT_KIND_UDP || w->hdr == 0)
    {
      struct virtio_net_hdr vh = { 0 };
      gsize len;

      sh_tun_writer_flush (w);
      len = sh_pkt_build (p, w->buf + w->hdr);
      if (len > 0 && write_packet (w, w->buf, len, &vh))
        {
          w->stats.packets++;
          w->stats.bytes += p->payload_len;
        }
      else
        w->stats.dropped++;
      return;
    }
  if (p->payload_len > SH_PKT_UDP6_MAX)
    {
      w->stats.dropped++;
      return;
    }
  if (!run_takes (w, p))
    {
      sh_tun_writer_flush (w);
      w->run = *p;
      w->run.payload = NULL;
      w->run.payload_len = 0;
      w->seg = p->payload_len;
    }
  memcpy (w->buf + w->hdr + udp_headers (p->family) + w->run.payload_len, p->payload,
          p->payload_len);
  w->run.payload_len += p->payload_len;
  w->n++;
  /* A shorter datagram ends the run; so does a full one. */
  if (!w->gso || w->seg == 0 || p->payload_len < w->seg || w->n == SH_PKT_GSO_SEGS_MAX
      || w->run.payload_len + w->seg > SH_PKT_GSO_BYTES_MAX)
    sh_tun_writer_flush (w);
  else if (w->idle_id == 0)
    w->idle_id = g_idle_add_full (G_PRIORITY_DEFAULT, on_idle, w, NULL);
}

void
sh_tun_writer_get_stats (ShTunWriter *w, ShTunWriterStats *stats)
{
  *stats = w->stats;
}

void
sh_tun_writer_free (ShTunWriter *w)
{
  if (w == NULL)
    return;
  sh_tun_writer_flush (w);
  g_clear_handle_id (&w->idle_id, g_source_remove);
  g_free (w->buf);
  g_free (w);
}
