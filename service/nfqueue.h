/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nfqueue.h — the nfnetlink_queue messages the engine reads and writes.
 *
 * Pure: bytes in, structs (or -errno) out; no sockets. The kernel queues the
 * first SYN of each tunnelled TCP connection (the firewall's "syn" chain,
 * firewall.c); the engine decides its verdict once the server has answered
 * the OPEN for it (synqueue.c). Every length a message carries is checked
 * against the buffer before it is used: the input is fuzzed (fuzz-nfqueue). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Bytes of each packet the kernel copies to us: an IPv6 header and the
 * start of the TCP header fit; the rest of a SYN (options) is not needed. */
#define SH_NFQ_COPY_RANGE 128

/* Largest message sh_nfq_put_*() writes. */
#define SH_NFQ_MSG_MAX 64

typedef struct
{
  guint32 id;     /* the kernel's packet id, for the verdict */
  int family;     /* AF_INET or AF_INET6 */
  guint8 src[16]; /* network order; the first 4 bytes for IPv4 */
  guint8 dst[16];
  guint16 sport; /* host order */
  guint16 dport;
  guint8 tcp_flags; /* byte 13 of the TCP header: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10 */
} ShNfqPacket;

/* Reads the netlink message at the start of @buf (@len bytes).
 * Returns the message's length (aligned, so the next one starts there) and
 * sets *@is_packet: TRUE and *@pkt filled when it is a queued TCP packet
 * with a whole IP header and the TCP ports and flags; FALSE for anything
 * else that is well formed (an acknowledgement, a packet we cannot read,
 * which still needs a verdict: then pkt->id is set and pkt->family 0).
 * *@err receives the error of an NLMSG_ERROR message (0 for an ack).
 * -EINVAL when the message is malformed (its length does not fit). */
int sh_nfq_parse (const guint8 *buf, gsize len, ShNfqPacket *pkt, gboolean *is_packet, int *err);

/* Encoders: write into @out (at least SH_NFQ_MSG_MAX bytes), return the
 * length. @queue is the queue number, @seq the netlink sequence number. */

/* Binds this socket to @queue, copying SH_NFQ_COPY_RANGE bytes of each
 * packet, at most @maxlen waiting; when the queue is full the kernel lets
 * packets pass (NFQA_CFG_F_FAIL_OPEN) instead of dropping them. */
gsize sh_nfq_put_bind (guint8 *out, guint16 queue, guint32 maxlen, guint32 seq);

/* The verdict on packet @id: NF_ACCEPT, NF_DROP or NF_REPEAT; @mark, when
 * not 0, becomes the packet's mark (how a repeated packet finds its
 * "reject" rule). */
gsize sh_nfq_put_verdict (guint8 *out, guint16 queue, guint32 id, guint32 verdict, guint32 mark,
                          guint32 seq);

G_END_DECLS
