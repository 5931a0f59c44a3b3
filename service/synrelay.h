/* SPDX-License-Identifier: GPL-2.0-or-later */
/* synrelay.h — the SYN relay's records, between shuttle-firewall and an
 * unprivileged engine (docs/architecture.md, "The relay").
 *
 * nfnetlink checks CAP_NET_ADMIN of whoever sends each message, so a queue
 * socket handed to an engine without it could read SYNs but never give a
 * verdict. Instead the helper reads the queue and passes each queued SYN
 * over a SOCK_SEQPACKET pair as one fixed-size record; the engine answers
 * with another, and the helper gives the verdict. Integers are in host
 * order (both ends are on the same host), addresses in network order.
 *
 *   SYN     (helper -> engine), SH_SYN_RELAY_SYN_LEN = 44 bytes:
 *     0  u32 id        the kernel's packet id
 *     4  u8  family    4 or 6
 *     5  u8  0
 *     6  u16 sport
 *     8  u16 dport
 *    10  u16 0
 *    12  u8  src[16]   IPv4: the first 4 bytes, the rest zero
 *    28  u8  dst[16]
 *   VERDICT (engine -> helper), SH_SYN_RELAY_VERDICT_LEN = 8 bytes:
 *     0  u32 id        as received
 *     4  u32 outcome   ShSynOutcome
 *
 * Pure: bytes in, values out. The helper takes a VERDICT only when it has
 * exactly that length, a known outcome, and an id it sent and still holds. */
#pragma once

#include <glib.h>

#include "nfqueue.h"

G_BEGIN_DECLS

#define SH_SYN_RELAY_SYN_LEN 44
#define SH_SYN_RELAY_VERDICT_LEN 8

/* What became of a queued SYN. */
typedef enum
{
  SH_SYN_ACCEPT = 0,       /* into the redirect: the far side connected (or no queue applies) */
  SH_SYN_REFUSED = 1,      /* answered with a TCP reset: ECONNREFUSED */
  SH_SYN_HOST_UNREACH = 2, /* ICMP host unreachable: EHOSTUNREACH */
  SH_SYN_NET_UNREACH = 3,  /* ICMP no route: ENETUNREACH */
  SH_SYN_DROP = 4,         /* dropped: the program's TCP retries (a silent far side) */
} ShSynOutcome;
#define SH_SYN_OUTCOME_MAX SH_SYN_DROP

/* The nfqueue verdict (NF_ACCEPT, NF_DROP, NF_REPEAT) and mark (0: none)
 * for @outcome: the same for the in-process queue and the helper. */
void sh_syn_outcome_verdict (ShSynOutcome outcome, guint32 *verdict, guint32 *mark);

/* The outcome for the far side's connect errno @err (0: connected). */
ShSynOutcome sh_syn_outcome_from_errno (int err);

/* Writes the SYN record of @pkt (family AF_INET or AF_INET6) into @out. */
void sh_syn_relay_put_syn (guint8 out[SH_SYN_RELAY_SYN_LEN], const ShNfqPacket *pkt);

/* Reads a SYN record of @len bytes into @pkt (tcp_flags: SYN). FALSE when
 * it is not one (length, family). */
gboolean sh_syn_relay_parse_syn (const guint8 *buf, gsize len, ShNfqPacket *pkt);

void sh_syn_relay_put_verdict (guint8 out[SH_SYN_RELAY_VERDICT_LEN], guint32 id,
                               ShSynOutcome outcome);

/* Reads a VERDICT record of @len bytes. FALSE when the length is not
 * SH_SYN_RELAY_VERDICT_LEN or the outcome is unknown. */
gboolean sh_syn_relay_parse_verdict (const guint8 *buf, gsize len, guint32 *id,
                                     ShSynOutcome *outcome);

G_END_DECLS
