/* SPDX-License-Identifier: GPL-2.0-or-later */
/* synrelay.c — the SYN relay's records; see synrelay.h. Pure. */
#include "config.h"

#include "synrelay.h"

#include <errno.h>
#include <netinet/in.h> /* before the linux/ headers, which then skip their copy */
#include <linux/netfilter.h>
#include <string.h>
#include <sys/socket.h>

#include "firewall.h"

void
sh_syn_outcome_verdict (ShSynOutcome outcome, guint32 *verdict, guint32 *mark)
{
  *mark = 0;
  switch (outcome)
    {
    case SH_SYN_ACCEPT:
      *verdict = NF_ACCEPT;
      break;
    case SH_SYN_DROP:
      *verdict = NF_DROP;
      break;
    case SH_SYN_HOST_UNREACH:
      *verdict = NF_REPEAT;
      *mark = SH_FIREWALL_HOST_UNREACH_MARK;
      break;
    case SH_SYN_NET_UNREACH:
      *verdict = NF_REPEAT;
      *mark = SH_FIREWALL_NET_UNREACH_MARK;
      break;
    case SH_SYN_REFUSED:
    default:
      *verdict = NF_REPEAT;
      *mark = SH_FIREWALL_REFUSED_MARK;
      break;
    }
}

ShSynOutcome
sh_syn_outcome_from_errno (int err)
{
  switch (err)
    {
    case 0:
      return SH_SYN_ACCEPT;
    case ETIMEDOUT:
      return SH_SYN_DROP; /* silence, as a direct SYN would meet */
    case EHOSTUNREACH:
      return SH_SYN_HOST_UNREACH;
    case ENETUNREACH:
      return SH_SYN_NET_UNREACH;
    default:
      return SH_SYN_REFUSED;
    }
}

void
sh_syn_relay_put_syn (guint8 out[SH_SYN_RELAY_SYN_LEN], const ShNfqPacket *pkt)
{
  memset (out, 0, SH_SYN_RELAY_SYN_LEN);
  memcpy (out, &pkt->id, 4);
  out[4] = pkt->family == AF_INET6 ? 6 : 4;
  memcpy (out + 6, &pkt->sport, 2);
  memcpy (out + 8, &pkt->dport, 2);
  memcpy (out + 12, pkt->src, pkt->family == AF_INET6 ? 16 : 4);
  memcpy (out + 28, pkt->dst, pkt->family == AF_INET6 ? 16 : 4);
}

gboolean
sh_syn_relay_parse_syn (const guint8 *buf, gsize len, ShNfqPacket *pkt)
{
  memset (pkt, 0, sizeof *pkt);
  if (len != SH_SYN_RELAY_SYN_LEN || (buf[4] != 4 && buf[4] != 6))
    return FALSE;
  memcpy (&pkt->id, buf, 4);
  pkt->family = buf[4] == 6 ? AF_INET6 : AF_INET;
  memcpy (&pkt->sport, buf + 6, 2);
  memcpy (&pkt->dport, buf + 8, 2);
  memcpy (pkt->src, buf + 12, buf[4] == 6 ? 16 : 4);
  memcpy (pkt->dst, buf + 28, buf[4] == 6 ? 16 : 4);
  pkt->tcp_flags = 0x02; /* the helper passes first SYNs only */
  return TRUE;
}

void
sh_syn_relay_put_verdict (guint8 out[SH_SYN_RELAY_VERDICT_LEN], guint32 id, ShSynOutcome outcome)
{
  guint32 o = outcome;

  memcpy (out, &id, 4);
  memcpy (out + 4, &o, 4);
}

gboolean
sh_syn_relay_parse_verdict (const guint8 *buf, gsize len, guint32 *id, ShSynOutcome *outcome)
{
  guint32 o;

  if (len != SH_SYN_RELAY_VERDICT_LEN)
    return FALSE;
  memcpy (id, buf, 4);
  memcpy (&o, buf + 4, 4);
  if (o > SH_SYN_OUTCOME_MAX)
    return FALSE;
  *outcome = (ShSynOutcome) o;
  return TRUE;
}
