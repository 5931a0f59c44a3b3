/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nfqueue.c — nfnetlink_queue messages: parsing queued packets, encoding
 * bind and verdict requests. Pure; see nfqueue.h. */
#include "config.h"

#include "nfqueue.h"

#include <errno.h>
#include <netinet/in.h> /* before the linux/ headers, which then skip their copy */
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>

#define NLA_HDR 4u

static guint16
get16 (const guint8 *p)
{
  return (guint16) (p[0] << 8 | p[1]);
}

static guint32
get32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static guint
align4 (guint n)
{
  return (n + 3u) & ~3u;
}

/* The IP and TCP headers of a queued packet. FALSE: not a TCP packet we can
 * read (fragment, extension headers, too short); the caller still owes it
 * a verdict. */
static gboolean
parse_ip (const guint8 *p, gsize len, ShNfqPacket *pkt)
{
  gsize l4;

  if (len < 1)
    return FALSE;
  if (p[0] >> 4 == 4)
    {
      gsize ihl = (gsize) (p[0] & 0x0f) * 4;
      if (ihl < 20 || len < ihl || p[9] != IPPROTO_TCP)
        return FALSE;
      /* Not the first fragment (offset != 0): no TCP header here. */
      if ((get16 (p + 6) & 0x1fff) != 0)
        return FALSE;
      pkt->family = AF_INET;
      memset (pkt->src, 0, sizeof pkt->src);
      memset (pkt->dst, 0, sizeof pkt->dst);
      memcpy (pkt->src, p + 12, 4);
      memcpy (pkt->dst, p + 16, 4);
      l4 = ihl;
    }
  else if (p[0] >> 4 == 6)
    {
      /* Only TCP right after the fixed header: a SYN the kernel itself
       * sends has no extension headers. */
      if (len < 40 || p[6] != IPPROTO_TCP)
        return FALSE;
      pkt->family = AF_INET6;
      memcpy (pkt->src, p + 8, 16);
      memcpy (pkt->dst, p + 24, 16);
      l4 = 40;
    }
  else
    return FALSE;

  if (len - l4 < 14)
    {
      pkt->family = 0;
      return FALSE;
    }
  pkt->sport = get16 (p + l4);
  pkt->dport = get16 (p + l4 + 2);
  pkt->tcp_flags = p[l4 + 13];
  return TRUE;
}

int
sh_nfq_parse (const guint8 *buf, gsize len, ShNfqPacket *pkt, gboolean *is_packet, int *err)
{
  guint32 msg_len;
  guint16 type;
  gboolean have_id = FALSE;
  const guint8 *payload = NULL;
  gsize payload_len = 0;

  memset (pkt, 0, sizeof *pkt);
  *is_packet = FALSE;
  *err = 0;
  if (len < NLMSG_HDRLEN)
    return -EINVAL;
  memcpy (&msg_len, buf, 4);
  memcpy (&type, buf + 4, 2);
  if (msg_len < NLMSG_HDRLEN || msg_len > len)
    return -EINVAL;
  /* The last message of a buffer may lack its padding. */
  guint step = MIN (align4 (msg_len), (guint) len);

  if (type == NLMSG_ERROR)
    {
      gint32 e;
      if (msg_len < NLMSG_HDRLEN + 4)
        return -EINVAL;
      memcpy (&e, buf + NLMSG_HDRLEN, 4);
      *err = e < 0 && e > -4096 ? -e : (e == 0 ? 0 : EINVAL);
      return (int) step;
    }
  if (type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
    return (int) step; /* NLMSG_DONE, NOOP and the like: nothing for us */
  if (msg_len < NLMSG_HDRLEN + sizeof (struct nfgenmsg))
    return -EINVAL;

  const guint8 *a = buf + NLMSG_HDRLEN + sizeof (struct nfgenmsg);
  gsize left = msg_len - NLMSG_HDRLEN - sizeof (struct nfgenmsg);
  while (left >= NLA_HDR)
    {
      guint16 alen, atype;
      memcpy (&alen, a, 2);
      memcpy (&atype, a + 2, 2);
      atype &= NLA_TYPE_MASK;
      if (alen < NLA_HDR || alen > left)
        return -EINVAL;
      if (atype == NFQA_PACKET_HDR)
        {
          if (alen < NLA_HDR + 4)
            return -EINVAL;
          pkt->id = get32 (a + NLA_HDR);
          have_id = TRUE;
        }
      else if (atype == NFQA_PAYLOAD)
        {
          payload = a + NLA_HDR;
          payload_len = alen - NLA_HDR;
        }
      gsize adv = MIN ((gsize) align4 (alen), left);
      a += adv;
      left -= adv;
    }
  if (!have_id)
    return -EINVAL; /* without an id no verdict is possible */
  *is_packet = payload != NULL && parse_ip (payload, payload_len, pkt);
  if (!*is_packet)
    pkt->family = 0;
  return (int) step;
}

/* ------------------------------------------------------------- encoders */

static gsize
put_header (guint8 *out, guint16 msgtype, guint16 flags, guint16 queue, guint32 seq)
{
  struct nlmsghdr nh = {
    .nlmsg_len = 0, /* set by finish() */
    .nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | msgtype,
    .nlmsg_flags = NLM_F_REQUEST | flags,
    .nlmsg_seq = seq,
  };
  struct nfgenmsg g
      = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = htons (queue) };

  memcpy (out, &nh, sizeof nh);
  memcpy (out + NLMSG_HDRLEN, &g, sizeof g);
  return NLMSG_HDRLEN + sizeof g;
}

static gsize
put_attr (guint8 *out, gsize at, guint16 type, const void *data, guint16 len)
{
  guint16 alen = NLA_HDR + len;

  memcpy (out + at, &alen, 2);
  memcpy (out + at + 2, &type, 2);
  memcpy (out + at + NLA_HDR, data, len);
  memset (out + at + alen, 0, align4 (alen) - alen);
  return at + align4 (alen);
}

static gsize
finish (guint8 *out, gsize len)
{
  guint32 l = (guint32) len;
  memcpy (out, &l, 4);
  return len;
}

gsize
sh_nfq_put_bind (guint8 *out, guint16 queue, guint32 maxlen, guint32 seq)
{
  struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_BIND, .pf = htons (AF_UNSPEC) };
  struct nfqnl_msg_config_params params
      = { .copy_range = htonl (SH_NFQ_COPY_RANGE), .copy_mode = NFQNL_COPY_PACKET };
  guint32 ml = htonl (maxlen), flags = htonl (NFQA_CFG_F_FAIL_OPEN);
  gsize at = put_header (out, NFQNL_MSG_CONFIG, NLM_F_ACK, queue, seq);

  at = put_attr (out, at, NFQA_CFG_CMD, &cmd, sizeof cmd);
  at = put_attr (out, at, NFQA_CFG_PARAMS, &params, sizeof params);
  at = put_attr (out, at, NFQA_CFG_QUEUE_MAXLEN, &ml, 4);
  at = put_attr (out, at, NFQA_CFG_FLAGS, &flags, 4);
  at = put_attr (out, at, NFQA_CFG_MASK, &flags, 4);
  return finish (out, at);
}

gsize
sh_nfq_put_verdict (guint8 *out, guint16 queue, guint32 id, guint32 verdict, guint32 mark,
                    guint32 seq)
{
  struct nfqnl_msg_verdict_hdr vh = { .verdict = htonl (verdict), .id = htonl (id) };
  gsize at = put_header (out, NFQNL_MSG_VERDICT, 0, queue, seq);

  at = put_attr (out, at, NFQA_VERDICT_HDR, &vh, sizeof vh);
  if (mark != 0)
    {
      guint32 m = htonl (mark);
      at = put_attr (out, at, NFQA_MARK, &m, 4);
    }
  return finish (out, at);
}
