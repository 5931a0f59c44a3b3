/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-sockowner.c — socket owners from NETLINK_SOCK_DIAG. */
#include "config.h"

#include "fw-sockowner.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fw-wire.h"

static const char *
protocol_name (int protocol)
{
  return protocol == IPPROTO_UDP ? "UDP" : "TCP";
}

/* Whether a socket bound to this address receives what is redirected to
 * 127.0.0.1 or ::1 (see the header). */
static gboolean
reaches_loopback (const ShFwSock *s)
{
  static const guint8 any6[16] = { 0 };
  static const guint8 lo6[16] = { [15] = 1 };
  static const guint8 mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };
  static const guint8 lo4[4] = { 127, 0, 0, 1 };
  static const guint8 any4[4] = { 0 };

  if (s->family == AF_INET)
    return memcmp (s->addr, lo4, 4) == 0 || memcmp (s->addr, any4, 4) == 0;
  if (memcmp (s->addr, any6, 16) == 0 || memcmp (s->addr, lo6, 16) == 0)
    return TRUE;
  return memcmp (s->addr, mapped_prefix, 12) == 0
         && (memcmp (s->addr + 12, lo4, 4) == 0 || memcmp (s->addr + 12, any4, 4) == 0);
}

gboolean
sh_fw_port_decide (const GArray *socks, int protocol, guint16 port, guint32 uid, GError **error)
{
  gboolean own = FALSE;

  for (guint i = 0; i < socks->len; i++)
    {
      const ShFwSock *s = &g_array_index (socks, ShFwSock, i);

      if (!reaches_loopback (s))
        continue;
      /* Another user's socket there would receive (part of) what the
       * caller asks to redirect. */
      if (s->uid != uid)
        {
          g_set_error (error, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED,
                       "%s port %u is not a loopback listener of uid %u: uid %u listens there",
                       protocol_name (protocol), port, uid, s->uid);
          return FALSE;
        }
      own = TRUE;
    }
  if (!own)
    g_set_error (error, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED,
                 "%s port %u is not a loopback listener of uid %u: nothing listens on "
                 "127.0.0.1, ::1 or a wildcard address at that port",
                 protocol_name (protocol), port, uid);
  return own;
}

/* One SOCK_DIAG_BY_FAMILY dump of @family; appends the matching sockets. */
static int
dump_family (int fd, int family, int protocol, guint16 port, GArray *out)
{
  static guint32 seq;
  struct
  {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg = { 0 };
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  /* Aligned for the struct casts below; 32 KiB holds many answers a read. */
  guint64 buf[4096];

  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = ++seq;
  msg.req.sdiag_family = (guint8) family;
  msg.req.sdiag_protocol = (guint8) protocol;
  /* A UDP socket that is bound but not connected is in TCP_CLOSE. */
  msg.req.idiag_states = protocol == IPPROTO_TCP ? 1u << TCP_LISTEN : 1u << TCP_CLOSE;
  msg.req.id.idiag_sport = htons (port);
  if (sendto (fd, &msg, sizeof msg, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0)
    return -errno;

  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, 0);
      int len;

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -errno;
      if (n == 0)
        return -EPROTO;
      len = (int) n;
      for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK (h, len); h = NLMSG_NEXT (h, len))
        {
          const struct inet_diag_msg *m;
          ShFwSock s = { 0 };

          if (h->nlmsg_seq != msg.nlh.nlmsg_seq)
            continue;
          if (h->nlmsg_type == NLMSG_DONE)
            return 0;
          if (h->nlmsg_type == NLMSG_ERROR)
            {
              const struct nlmsgerr *e = NLMSG_DATA (h);

              if (h->nlmsg_len < NLMSG_LENGTH (sizeof *e))
                return -EPROTO;
              return e->error < 0 ? e->error : -EPROTO;
            }
          if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH (sizeof *m))
            continue;
          m = NLMSG_DATA (h);
          /* The kernel may ignore idiag_sport in a dump: filter here. */
          if (ntohs (m->id.idiag_sport) != port || m->idiag_family != family)
            continue;
          if (protocol == IPPROTO_UDP && m->id.idiag_dport != 0)
            continue;
          s.family = family;
          memcpy (s.addr, m->id.idiag_src, family == AF_INET ? 4 : 16);
          s.uid = m->idiag_uid;
          g_array_append_val (out, s);
        }
    }
}

GArray *
sh_fw_port_list (int protocol, guint16 port, GError **error)
{
  static const int families[] = { AF_INET, AF_INET6 };
  g_autoptr (GArray) socks = g_array_new (FALSE, TRUE, sizeof (ShFwSock));
  int fd = socket (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

  if (fd < 0)
    {
      int err = errno;

      g_set_error (error, SH_FW_ERROR, SH_FW_ERROR_FAILED, "cannot open a sock_diag socket: %s",
                   g_strerror (err));
      return NULL;
    }
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      int r = dump_family (fd, families[i], protocol, port, socks);

      /* No IPv6 in this kernel: then nothing listens on ::1 either. */
      if (r == -ENOENT && families[i] == AF_INET6)
        continue;
      if (r < 0)
        {
          g_set_error (error, SH_FW_ERROR, SH_FW_ERROR_FAILED,
                       "cannot list the %s sockets on port %u (sock_diag, IPv%d): %s",
                       protocol_name (protocol), port, families[i] == AF_INET ? 4 : 6,
                       g_strerror (-r));
          close (fd);
          return NULL;
        }
    }
  close (fd);
  return g_steal_pointer (&socks);
}

gboolean
sh_fw_port_check (int protocol, guint16 port, guint32 uid, GError **error)
{
  g_autoptr (GArray) socks = sh_fw_port_list (protocol, port, error);

  return socks != NULL && sh_fw_port_decide (socks, protocol, port, uid, error);
}

/* One exact SOCK_DIAG_BY_FAMILY lookup (no dump) of @id's socket. */
static int
lookup_one (int fd, int family, const struct inet_diag_sockid *id, guint32 *uid)
{
  struct
  {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg = { 0 };
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  guint64 buf[1024];

  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.nlh.nlmsg_seq = 1;
  msg.req.sdiag_family = (guint8) family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = ~0u;
  msg.req.id = *id;
  if (sendto (fd, &msg, sizeof msg, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0)
    return -errno;
  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, 0);
      int len;

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return n < 0 ? -errno : -EPROTO;
      len = (int) n;
      for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK (h, len); h = NLMSG_NEXT (h, len))
        {
          const struct inet_diag_msg *m;

          if (h->nlmsg_type == NLMSG_ERROR)
            {
              const struct nlmsgerr *e = NLMSG_DATA (h);

              if (h->nlmsg_len < NLMSG_LENGTH (sizeof *e))
                return -EPROTO;
              return e->error < 0 ? e->error : -EPROTO;
            }
          if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH (sizeof *m))
            continue;
          m = NLMSG_DATA (h);
          /* The kernel matched the whole tuple; check the ports again. */
          if (m->id.idiag_sport != id->idiag_sport || m->id.idiag_dport != id->idiag_dport)
            return -ENOENT;
          *uid = m->idiag_uid;
          return 0;
        }
    }
}

gboolean
sh_fw_conn_owner (const struct sockaddr *peer, const struct sockaddr *local, guint32 *uid,
                  GError **error)
{
  struct inet_diag_sockid id = { 0 };
  int family = peer->sa_family;
  int fd, r;

  /* The connecting socket's own view: it is bound to @peer and connected
   * to @local. */
  if (family == AF_INET && local->sa_family == AF_INET)
    {
      const struct sockaddr_in *p = (const struct sockaddr_in *) peer;
      const struct sockaddr_in *l = (const struct sockaddr_in *) local;

      id.idiag_sport = p->sin_port;
      id.idiag_dport = l->sin_port;
      memcpy (id.idiag_src, &p->sin_addr, 4);
      memcpy (id.idiag_dst, &l->sin_addr, 4);
    }
  else if (family == AF_INET6 && local->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *p = (const struct sockaddr_in6 *) peer;
      const struct sockaddr_in6 *l = (const struct sockaddr_in6 *) local;

      id.idiag_sport = p->sin6_port;
      id.idiag_dport = l->sin6_port;
      memcpy (id.idiag_src, &p->sin6_addr, 16);
      memcpy (id.idiag_dst, &l->sin6_addr, 16);
    }
  else
    {
      g_set_error (error, SH_FW_ERROR, SH_FW_ERROR_FAILED, "not a TCP connection");
      return FALSE;
    }
  id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  fd = socket (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0)
    {
      int err = errno;

      g_set_error (error, SH_FW_ERROR, SH_FW_ERROR_FAILED, "cannot open a sock_diag socket: %s",
                   g_strerror (err));
      return FALSE;
    }
  r = lookup_one (fd, family, &id, uid);
  close (fd);
  if (r < 0)
    {
      g_set_error (error, SH_FW_ERROR, SH_FW_ERROR_FAILED,
                   "cannot find the connecting socket (sock_diag): %s", g_strerror (-r));
      return FALSE;
    }
  return TRUE;
}
