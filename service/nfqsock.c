/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nfqsock.c — a bound netfilter queue socket; see nfqsock.h. */
#include "config.h"

#include "nfqsock.h"

#include <errno.h>
#include <netinet/in.h> /* before the linux/ headers, which then skip their copy */
#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nfqueue.h"

/* Sends @msg and waits (briefly) for its acknowledgement. */
static int
request (int fd, const guint8 *msg, gsize len)
{
  guint8 reply[256];

  if (send (fd, msg, len, 0) != (ssize_t) len)
    return errno;
  for (;;)
    {
      ssize_t n = recv (fd, reply, sizeof reply, 0);
      if (n < 0)
        return errno;
      for (gsize off = 0; off < (gsize) n;)
        {
          ShNfqPacket pkt;
          gboolean is_packet;
          int err;
          int step = sh_nfq_parse (reply + off, n - off, &pkt, &is_packet, &err);
          if (step <= 0)
            return EIO;
          if (((const struct nlmsghdr *) (reply + off))->nlmsg_type == NLMSG_ERROR)
            return err;
          off += step;
        }
    }
}

int
sh_nfq_socket_open (guint16 first, guint tries, guint16 *number, GError **error)
{
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  struct timeval tv = { .tv_sec = 2 };
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  int err = 0, one = 1, rcvbuf = 4 * 1024 * 1024;

  if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    err = errno;
  else
    {
      setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
      setsockopt (fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
      err = EBUSY;
      for (guint i = 0; i < tries && err == EBUSY; i++)
        {
          guint8 msg[SH_NFQ_MSG_MAX];
          *number = first + i;
          err = request (fd, msg, sh_nfq_put_bind (msg, *number, SH_NFQ_QUEUE_MAXLEN, i + 1));
        }
    }
  if (err != 0)
    {
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   /* Translators: %s is the system's error message. */
                   _ ("cannot bind a netfilter queue for SYNs: %s"), g_strerror (err));
      return -1;
    }
  return fd;
}

gboolean
sh_nfq_socket_verdict (int fd, guint16 queue, guint32 id, ShSynOutcome outcome, guint32 seq)
{
  guint8 msg[SH_NFQ_MSG_MAX];
  guint32 verdict, mark;

  sh_syn_outcome_verdict (outcome, &verdict, &mark);
  gsize len = sh_nfq_put_verdict (msg, queue, id, verdict, mark, seq);
  return send (fd, msg, len, MSG_DONTWAIT) == (ssize_t) len;
}
