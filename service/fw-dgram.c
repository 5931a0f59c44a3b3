/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-dgram.c — the datagram device and its policy routing, over rtnetlink
 * and the tun ioctls: no ip binary, no shell. */
#include "config.h"

#include "fw-dgram.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fib_rules.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define NL_BUF 8192

typedef struct
{
  struct nlmsghdr *h;
  gsize cap;
} NlMsg;

static void
nl_init (NlMsg *m, guint8 *buf, gsize cap, guint16 type, guint16 flags, gsize hdr_len)
{
  memset (buf, 0, cap);
  m->h = (struct nlmsghdr *) buf;
  m->cap = cap;
  m->h->nlmsg_len = NLMSG_LENGTH (hdr_len);
  m->h->nlmsg_type = type;
  m->h->nlmsg_flags = NLM_F_REQUEST | flags;
}

static void *
nl_body (NlMsg *m)
{
  return NLMSG_DATA (m->h);
}

static void
nl_attr (NlMsg *m, guint16 type, const void *data, gsize len)
{
  struct rtattr *rta = (struct rtattr *) ((guint8 *) m->h + NLMSG_ALIGN (m->h->nlmsg_len));

  g_assert (NLMSG_ALIGN (m->h->nlmsg_len) + RTA_SPACE (len) <= m->cap);
  rta->rta_type = type;
  rta->rta_len = RTA_LENGTH (len);
  memcpy (RTA_DATA (rta), data, len);
  m->h->nlmsg_len = NLMSG_ALIGN (m->h->nlmsg_len) + RTA_SPACE (len);
}

static void
nl_u32 (NlMsg *m, guint16 type, guint32 value)
{
  nl_attr (m, type, &value, sizeof value);
}

static int
nl_open (void)
{
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  struct timeval tv = { .tv_sec = 5 };

  if (fd >= 0)
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* Sends @m and waits for its acknowledgement: 0 or a negative errno. */
static int
nl_talk (NlMsg *m)
{
  int fd = nl_open ();
  guint8 buf[NL_BUF];
  ssize_t n;
  int ret = -EIO;

  if (fd < 0)
    return -errno;
  m->h->nlmsg_flags |= NLM_F_ACK;
  m->h->nlmsg_seq = 1;
  if (send (fd, m->h, m->h->nlmsg_len, 0) < 0)
    {
      ret = -errno;
      close (fd);
      return ret;
    }
  n = recv (fd, buf, sizeof buf, 0);
  if (n < 0)
    ret = -errno;
  else
    for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK (h, (guint) n);
         h = NLMSG_NEXT (h, n))
      if (h->nlmsg_type == NLMSG_ERROR)
        {
          ret = ((struct nlmsgerr *) NLMSG_DATA (h))->error;
          break;
        }
  close (fd);
  return ret;
}

typedef void (*NlEach) (struct nlmsghdr *h, gpointer data);

/* Sends the dump request @m and calls @each for every answer. */
static int
nl_dump (NlMsg *m, NlEach each, gpointer data)
{
  int fd = nl_open ();
  g_autofree guint8 *buf = g_malloc (32768);
  int ret = 0;

  if (fd < 0)
    return -errno;
  m->h->nlmsg_flags |= NLM_F_DUMP;
  m->h->nlmsg_seq = 2;
  if (send (fd, m->h, m->h->nlmsg_len, 0) < 0)
    {
      ret = -errno;
      close (fd);
      return ret;
    }
  for (;;)
    {
      ssize_t n = recv (fd, buf, 32768, 0);

      if (n < 0)
        {
          ret = -errno;
          break;
        }
      for (struct nlmsghdr *h = (struct nlmsghdr *) buf; NLMSG_OK (h, (guint) n);
           h = NLMSG_NEXT (h, n))
        {
          if (h->nlmsg_type == NLMSG_DONE)
            goto out;
          if (h->nlmsg_type == NLMSG_ERROR)
            {
              ret = ((struct nlmsgerr *) NLMSG_DATA (h))->error;
              goto out;
            }
          each (h, data);
        }
    }
out:
  close (fd);
  return ret;
}

static int
rule_op (guint16 type, int family, guint index)
{
  guint8 buf[256];
  NlMsg m;
  struct fib_rule_hdr *frh;
  guint32 mark = sh_fw_dgram_mark (index);

  nl_init (&m, buf, sizeof buf, type, type == RTM_NEWRULE ? NLM_F_CREATE | NLM_F_EXCL : 0,
           sizeof *frh);
  frh = nl_body (&m);
  frh->family = family;
  frh->action = FR_ACT_TO_TBL;
  frh->table = RT_TABLE_UNSPEC;
  nl_u32 (&m, FRA_FWMARK, mark);
  nl_u32 (&m, FRA_FWMASK, 0xffffffffu);
  nl_u32 (&m, FRA_TABLE, mark);
  nl_u32 (&m, FRA_PRIORITY, SH_FW_DGRAM_RULE_PRIORITY);
  return nl_talk (&m);
}

static int
route_add (int family, guint index, int ifindex)
{
  guint8 buf[256];
  NlMsg m;
  struct rtmsg *rtm;

  nl_init (&m, buf, sizeof buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *rtm);
  rtm = nl_body (&m);
  rtm->rtm_family = family;
  rtm->rtm_table = RT_TABLE_UNSPEC;
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_scope = RT_SCOPE_LINK;
  rtm->rtm_type = RTN_UNICAST;
  nl_u32 (&m, RTA_TABLE, sh_fw_dgram_mark (index));
  nl_u32 (&m, RTA_OIF, (guint32) ifindex);
  return nl_talk (&m);
}

/* Up, the largest MTU, and the alias that records the owner. */
static int
link_set (int ifindex, const char *alias)
{
  guint8 buf[512];
  NlMsg m;
  struct ifinfomsg *ifi;

  nl_init (&m, buf, sizeof buf, RTM_NEWLINK, 0, sizeof *ifi);
  ifi = nl_body (&m);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  /* The largest IP packet: a datagram the local kernel would otherwise
   * fragment (the codec takes no fragments) goes in whole. */
  nl_u32 (&m, IFLA_MTU, 65535);
  nl_attr (&m, IFLA_IFALIAS, alias, strlen (alias) + 1);
  return nl_talk (&m);
}

static int
link_del (const char *ifname)
{
  guint8 buf[256];
  NlMsg m;
  struct ifinfomsg *ifi;

  nl_init (&m, buf, sizeof buf, RTM_DELLINK, 0, sizeof *ifi);
  ifi = nl_body (&m);
  ifi->ifi_family = AF_UNSPEC;
  nl_attr (&m, IFLA_IFNAME, ifname, strlen (ifname) + 1);
  return nl_talk (&m);
}

static int
set_sysctl (const char *ifname, const char *name, const char *value)
{
  g_autofree char *path = g_strdup_printf ("/proc/sys/net/ipv4/conf/%s/%s", ifname, name);
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  int ret = 0;

  if (fd < 0)
    return -errno;
  if (write (fd, value, strlen (value)) != (ssize_t) strlen (value))
    ret = -errno;
  close (fd);
  return ret;
}

/* The reverse-path filter would drop the replies the engine writes: their
 * source (a host of the tunnelled subnets) routes, without the mark,
 * through another device, and a device without an IPv4 address fails the
 * check in either mode (strict 1, or loose 2, which systemd's sysctl.d
 * sets; Debian's kernel default is 0, and the effective value is the larger
 * of "all" and the device's); the
 * table's dgram_in chain marks what comes in on the device, and with
 * src_valid_mark the check looks the source up with that mark: through
 * the fwmark rule, behind this very device. */
static int
set_rp_filter (const char *ifname)
{
  int err = set_sysctl (ifname, "rp_filter", "2");

  return err < 0 ? err : set_sysctl (ifname, "src_valid_mark", "1");
}

static gboolean
fail (GError **error, int err, const char *what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-err), "%s: %s", what, g_strerror (-err));
  return FALSE;
}

static int open_slot (guint index, guint32 uid, const char *alias, char **ifname, GError **error);

int
sh_fw_dgram_open (guint index, guint32 uid, const char *alias, char **ifname, GError **error)
{
  return open_slot (index, uid, alias, ifname, error);
}

int
sh_fw_dgram_open_any (guint32 uid, const char *alias, guint *index, char **ifname, GError **error)
{
  for (guint i = 0; i < SH_FW_DGRAM_SLOTS; i++)
    {
      g_autoptr (GError) local = NULL;
      int fd = open_slot (i, uid, alias, ifname, &local);

      if (fd >= 0)
        {
          *index = i;
          return fd;
        }
      /* Another engine holds this slot: its rule exists already. */
      if (!g_error_matches (local, G_IO_ERROR, G_IO_ERROR_EXISTS))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return -1;
        }
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "all %d datagram slots are in use",
               SH_FW_DGRAM_SLOTS);
  return -1;
}

static int
open_slot (guint index, guint32 uid, const char *alias, char **ifname, GError **error)
{
  struct ifreq ifr = { 0 };
  int fd, ifindex, err;
  static const int families[] = { AF_INET, AF_INET6 };

  g_return_val_if_fail (index < SH_FW_DGRAM_SLOTS, -1);
  fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    {
      fail (error, -errno, "/dev/net/tun");
      return -1;
    }
  /* The kernel picks a free name: never an existing (perhaps persistent)
   * device to attach to. */
  g_strlcpy (ifr.ifr_name, "shuttle%d", sizeof ifr.ifr_name);
  /* IFF_VNET_HDR: a virtio_net_hdr before each packet, for the engine's
   * checksum offload and UDP GSO on writes (tunwrite.h). */
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl (fd, TUNSETIFF, &ifr) < 0)
    {
      fail (error, -errno, "creating the tun device");
      close (fd);
      return -1;
    }
  if (ioctl (fd, TUNSETOWNER, (unsigned long) uid) < 0)
    {
      err = -errno;
      goto undo;
    }
  ifindex = (int) if_nametoindex (ifr.ifr_name);
  if (ifindex == 0)
    {
      err = -errno;
      goto undo;
    }
  if ((err = link_set (ifindex, alias)) < 0 || (err = set_rp_filter (ifr.ifr_name)) < 0)
    goto undo;
  /* The route claims the slot: exclusive, so a slot whose device lives is
   * never taken over. A rule without a route is a dead owner's, identical
   * to ours: it is kept. */
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    if ((err = route_add (families[i], index, ifindex)) < 0)
      {
        if (err == -EEXIST && i == 0)
          {
            fail (error, err, "the datagram slot is taken");
            close (fd);
            return -1;
          }
        goto undo;
      }
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    if ((err = rule_op (RTM_NEWRULE, families[i], index)) < 0 && err != -EEXIST)
      goto undo;
  *ifname = g_strdup (ifr.ifr_name);
  return fd;

undo:
  fail (error, err, "setting up the datagram device");
  /* Closing the only descriptor removes the device and its routes. */
  close (fd);
  sh_fw_dgram_remove (index, NULL, NULL);
  return -1;
}

gboolean
sh_fw_dgram_remove (guint index, const char *ifname, GError **error)
{
  static const int families[] = { AF_INET, AF_INET6 };
  int first = 0;

  for (guint i = 0; index < SH_FW_DGRAM_SLOTS && i < G_N_ELEMENTS (families); i++)
    for (guint n = 0; n < 8; n++)
      {
        int err = rule_op (RTM_DELRULE, families[i], index);

        if (err == -ENOENT)
          break;
        if (err < 0)
          {
            if (first == 0)
              first = err;
            break;
          }
      }
  if (ifname != NULL)
    {
      int err = link_del (ifname);

      if (err < 0 && err != -ENODEV && first == 0)
        first = err;
    }
  if (first != 0)
    return fail (error, first, "removing the datagram device's rules");
  return TRUE;
}

static void
each_rule (struct nlmsghdr *h, gpointer data)
{
  GHashTable *slots = data;
  struct fib_rule_hdr *frh = NLMSG_DATA (h);
  int len = (int) h->nlmsg_len - (int) NLMSG_LENGTH (sizeof *frh);
  guint32 table = frh->table, mark = 0, prio = 0;

  if (h->nlmsg_type != RTM_NEWRULE || len < 0)
    return;
  for (struct rtattr *a = (struct rtattr *) ((guint8 *) frh + NLMSG_ALIGN (sizeof *frh));
       RTA_OK (a, len); a = RTA_NEXT (a, len))
    {
      if (RTA_PAYLOAD (a) < 4)
        continue;
      if (a->rta_type == FRA_TABLE)
        memcpy (&table, RTA_DATA (a), 4);
      else if (a->rta_type == FRA_FWMARK)
        memcpy (&mark, RTA_DATA (a), 4);
      else if (a->rta_type == FRA_PRIORITY)
        memcpy (&prio, RTA_DATA (a), 4);
    }
  if (prio == SH_FW_DGRAM_RULE_PRIORITY && table == mark && table >= SH_FW_DGRAM_BASE
      && table < SH_FW_DGRAM_BASE + SH_FW_DGRAM_SLOTS)
    g_hash_table_add (slots, GUINT_TO_POINTER (table - SH_FW_DGRAM_BASE + 1));
}

typedef struct
{
  const char *prefix;
  GHashTable *devices;
} LinkScan;

static void
each_link (struct nlmsghdr *h, gpointer data)
{
  LinkScan *scan = data;
  struct ifinfomsg *ifi = NLMSG_DATA (h);
  int len = (int) h->nlmsg_len - (int) NLMSG_LENGTH (sizeof *ifi);
  g_autofree char *name = NULL;
  g_autofree char *alias = NULL;

  if (h->nlmsg_type != RTM_NEWLINK || len < 0)
    return;
  for (struct rtattr *a = (struct rtattr *) ((guint8 *) ifi + NLMSG_ALIGN (sizeof *ifi));
       RTA_OK (a, len); a = RTA_NEXT (a, len))
    {
      if (a->rta_type == IFLA_IFNAME)
        name = g_strndup (RTA_DATA (a), RTA_PAYLOAD (a));
      else if (a->rta_type == IFLA_IFALIAS)
        alias = g_strndup (RTA_DATA (a), RTA_PAYLOAD (a));
    }
  if (name != NULL && alias != NULL && g_str_has_prefix (alias, scan->prefix))
    g_hash_table_insert (scan->devices, g_steal_pointer (&name), g_steal_pointer (&alias));
}

gboolean
sh_fw_dgram_list (const char *alias_prefix, GHashTable **slots, GHashTable **devices,
                  GError **error)
{
  g_autoptr (GHashTable) s = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr (GHashTable) d = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  static const int families[] = { AF_INET, AF_INET6 };
  LinkScan scan = { alias_prefix, d };
  guint8 buf[128];
  NlMsg m;
  int err;

  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      nl_init (&m, buf, sizeof buf, RTM_GETRULE, 0, sizeof (struct fib_rule_hdr));
      ((struct fib_rule_hdr *) nl_body (&m))->family = families[i];
      if ((err = nl_dump (&m, each_rule, s)) < 0)
        return fail (error, err, "listing ip rules");
    }
  nl_init (&m, buf, sizeof buf, RTM_GETLINK, 0, sizeof (struct ifinfomsg));
  if ((err = nl_dump (&m, each_link, &scan)) < 0)
    return fail (error, err, "listing links");
  *slots = g_steal_pointer (&s);
  *devices = g_steal_pointer (&d);
  return TRUE;
}

static void
each_route (struct nlmsghdr *h, gpointer data)
{
  GHashTable *slots = data;
  struct rtmsg *rtm = NLMSG_DATA (h);
  int len = (int) h->nlmsg_len - (int) NLMSG_LENGTH (sizeof *rtm);
  guint32 table = rtm->rtm_table;

  if (h->nlmsg_type != RTM_NEWROUTE || len < 0)
    return;
  for (struct rtattr *a = (struct rtattr *) ((guint8 *) rtm + NLMSG_ALIGN (sizeof *rtm));
       RTA_OK (a, len); a = RTA_NEXT (a, len))
    if (a->rta_type == RTA_TABLE && RTA_PAYLOAD (a) >= 4)
      memcpy (&table, RTA_DATA (a), 4);
  if (table >= SH_FW_DGRAM_BASE && table < SH_FW_DGRAM_BASE + SH_FW_DGRAM_SLOTS)
    g_hash_table_add (slots, GUINT_TO_POINTER (table - SH_FW_DGRAM_BASE + 1));
}

int
sh_fw_dgram_sweep_orphans (GError **error)
{
  g_autoptr (GHashTable) slots = NULL;
  g_autoptr (GHashTable) devices = NULL;
  g_autoptr (GHashTable) routed = g_hash_table_new (g_direct_hash, g_direct_equal);
  static const int families[] = { AF_INET, AF_INET6 };
  GHashTableIter it;
  gpointer key;
  guint8 buf[128];
  NlMsg m;
  int err, removed = 0;

  if (!sh_fw_dgram_list ("\x01", &slots, &devices, error))
    return -1;
  for (guint i = 0; i < G_N_ELEMENTS (families); i++)
    {
      nl_init (&m, buf, sizeof buf, RTM_GETROUTE, 0, sizeof (struct rtmsg));
      ((struct rtmsg *) nl_body (&m))->rtm_family = families[i];
      if ((err = nl_dump (&m, each_route, routed)) < 0)
        {
          fail (error, err, "listing routes");
          return -1;
        }
    }
  g_hash_table_iter_init (&it, slots);
  while (g_hash_table_iter_next (&it, &key, NULL))
    if (!g_hash_table_contains (routed, key))
      {
        if (!sh_fw_dgram_remove (GPOINTER_TO_UINT (key) - 1, NULL, error))
          return -1;
        removed++;
      }
  return removed;
}
