/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pktcodec.h — the IPv4/IPv6 packets of the datagram device (issue 19):
 * UDP datagrams and ICMP/ICMPv6 echo, parsed as the local kernel writes
 * them into the tun device and built as replies to write back. Pure: bytes
 * in, a struct or bytes out, no I/O; fuzzed by fuzz-pktcodec.
 *
 * Only what the tunnel carries is parsed. Fragments (IPv4 offset or MF) and
 * IPv6 extension headers are refused and counted by the caller: the kernel
 * sends a datagram larger than the device's MTU as fragments, so the
 * engine's device has a 65535-byte MTU and no local datagram needs them.
 * Checksums of incoming packets are not checked: the local kernel made
 * them, and a bad one could only hurt the local sender. Built packets have
 * correct IPv4 header, UDP, ICMP and ICMPv6 checksums. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SH_PKT_KIND_UDP 17
#define SH_PKT_KIND_ECHO 1

/* Payload limits: what fits one IPv4 or IPv6 packet of 65 535 bytes after
 * the headers (docs/protocol.md "datagram size"). */
#define SH_PKT_UDP4_MAX 65507
#define SH_PKT_UDP6_MAX 65527
#define SH_PKT_ECHO4_MAX 65507
#define SH_PKT_ECHO6_MAX 65527
/* The largest packet: an IPv6 header and 65 535 bytes of payload. */
#define SH_PKT_MAX 65575

typedef struct
{
  guint8 family; /* 4 or 6 */
  guint8 kind;   /* SH_PKT_KIND_UDP or SH_PKT_KIND_ECHO */
  guint8 src[16];
  guint8 dst[16];        /* 4 or 16 bytes used */
  guint16 sport;         /* UDP: source port; echo: identifier */
  guint16 dport;         /* UDP: destination port; echo: sequence number */
  const guint8 *payload; /* UDP data, or what follows the 8-byte ICMP header */
  gsize payload_len;
} ShPacket;

/* Why sh_pkt_parse() did not take a packet. */
typedef enum
{
  SH_PKT_OK = 0,
  SH_PKT_MALFORMED, /* too short, lengths that do not add up, wrong version */
  SH_PKT_FRAGMENT,  /* an IPv4 fragment */
  SH_PKT_EXTENSION, /* an IPv6 extension header */
  SH_PKT_OTHER,     /* another protocol or ICMP type (router solicitation, MLD...) */
  SH_PKT_N_RESULTS
} ShPktResult;

/* Parses the packet @data of @len bytes (bytes after the IP packet's own
 * length are ignored). On SH_PKT_OK *@out is set, its payload pointing into
 * @data. For an echo request sport is its identifier, dport its sequence. */
ShPktResult sh_pkt_parse (const guint8 *data, gsize len, ShPacket *out);

/* Builds into @buf (at least SH_PKT_MAX bytes; @p->payload may lie in it
 * from byte 48 on, where the payload goes) the packet @p describes: for
 * SH_PKT_KIND_UDP a UDP datagram from src:sport to dst:dport, for
 * SH_PKT_KIND_ECHO an echo *reply* (ICMP type 0, ICMPv6 type 129) from src
 * to dst with identifier sport and sequence dport. TTL/hop limit 64.
 * Returns the packet's length, or 0 when the family, kind or payload length
 * (SH_PKT_*_MAX) is out of range. */
gsize sh_pkt_build (const ShPacket *p, guint8 *buf);

/* A UDP GSO group, written to a socket (UDP_SEGMENT) or a tun device
 * (GSO_UDP_L4): the kernel's limit of segments, and a packet's 64 KiB with
 * room for its headers. */
#define SH_PKT_GSO_SEGS_MAX 64
#define SH_PKT_GSO_BYTES_MAX 65000

/* The IP and UDP headers of a UDP packet (family 4 or 6). */
#define SH_PKT_UDP4_HDR 28
#define SH_PKT_UDP6_HDR 48

/* For a device with checksum offload (a tun with IFF_VNET_HDR): builds in
 * @buf only the IP and UDP headers of the UDP packet @p, whose
 * @p->payload_len bytes of payload the caller puts after them (@p->payload
 * is not read), and leaves the UDP checksum partial: the field holds the
 * pseudo-header's sum, for the kernel to complete from the UDP header on
 * (csum_start: the IP header's length, csum_offset 6) or, for a packet it
 * delivers to a local socket, to trust. The lengths cover the whole
 * payload, as a GSO packet's do. Returns the headers' length, 0 when @p is
 * not UDP or its payload too long. */
gsize sh_pkt_build_udp_headers (const ShPacket *p, guint8 *buf);

/* A short English name of @result for counters and -vv logs. */
const char *sh_pkt_result_name (ShPktResult result);

G_END_DECLS
