/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tunwrite.h — packets into the datagram device (issue 19), with its
 * offloads when it has them.
 *
 * A tun device made with IFF_VNET_HDR (fw-dgram.c) carries a virtio_net_hdr
 * before each packet, read or written. On writes that header lets the
 * engine leave UDP checksums to the kernel, which trusts a partial checksum
 * on a packet it delivers to a local socket and so never computes it, and,
 * from Linux 6.2 (TUN_F_USO), write a run of datagrams of one size from one
 * source to one local socket as one packet that the kernel cuts back into
 * datagrams (GSO_UDP_L4): one write() and one trip through routing and
 * nftables for up to 64 datagrams. Without the header (a device from an
 * older helper) every packet is built whole and written alone.
 *
 * The same offloads are turned on for what local programs send into the
 * device (TUNSETOFFLOAD): the kernel leaves their UDP checksums partial,
 * and from 6.2 hands a sender's UDP_SEGMENT run over as one packet whose
 * header says GSO_UDP_L4 and the datagrams' size (gso_size). Readers take
 * the header into account (udptun.c).
 *
 * A UDP datagram may wait for the next one of its run: the caller flushes
 * after each batch of events, and a GLib idle flushes what a caller outside
 * such a batch left. Echo packets, and anything after a UDP datagram of
 * another run, go after what waits: the order of writes is the order of
 * sh_tun_writer_put(). */
#pragma once

#include <glib.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>

#include "pktcodec.h"

/* Linux 6.2; Debian 12's headers predate them. */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

G_BEGIN_DECLS

typedef struct _ShTunWriter ShTunWriter;

typedef struct
{
  guint64 packets; /* datagrams written */
  guint64 bytes;   /* their payload bytes */
  guint64 grouped; /* of packets: written in GSO groups of two or more */
  guint64 writes;  /* write() calls that wrote them */
  guint64 dropped; /* not written: the device's queue full, or refused */
} ShTunWriterStats;

/* For the device @fd (not owned): asks it whether it has the header
 * (TUNGETIFF), and if so turns its offloads on, as far as the kernel
 * knows them. */
ShTunWriter *sh_tun_writer_new (int fd);

/* Bytes of header before each packet the device gives and takes (0 or
 * sizeof (struct virtio_net_hdr)): readers skip it. */
gsize sh_tun_writer_header_len (ShTunWriter *writer);

/* Turns GSO groups off, as on a kernel without them: for tests. */
void sh_tun_writer_set_gso (ShTunWriter *writer, gboolean gso);

/* Writes @packet (UDP or echo; @packet->payload is copied), or queues a
 * UDP datagram for its run. */
void sh_tun_writer_put (ShTunWriter *writer, const ShPacket *packet);

/* Writes what waits. */
void sh_tun_writer_flush (ShTunWriter *writer);

void sh_tun_writer_get_stats (ShTunWriter *writer, ShTunWriterStats *stats);

/* Writes what waits first. */
void sh_tun_writer_free (ShTunWriter *writer);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShTunWriter, sh_tun_writer_free)

G_END_DECLS
