/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "netwatch.h"

#include <errno.h>
#include <glib-unix.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

gboolean
sh_net_routable (const struct sockaddr_storage *addrs, guint n, int *err)
{
  int last = 0;

  for (guint i = 0; i < n; i++)
    {
      const struct sockaddr_storage *a = &addrs[i];
      socklen_t len
          = a->ss_family == AF_INET6 ? sizeof (struct sockaddr_in6) : sizeof (struct sockaddr_in);
      int fd = socket (a->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0)
        return TRUE; /* cannot tell: let ssh find out */
      int rc = connect (fd, (const struct sockaddr *) a, len);
      int e = errno;
      close (fd);
      if (rc == 0)
        return TRUE;
      if (e != ENETUNREACH && e != EHOSTUNREACH && e != ENETDOWN)
        return TRUE; /* not a missing route: ssh's error will say more */
      last = e;
    }
  if (n == 0)
    return TRUE;
  if (err)
    *err = last;
  return FALSE;
}

struct _ShNetWatch
{
  int fd; /* rtnetlink; -1 when it could not be opened */
  guint fd_id;
  guint poll_id;
  GFunc changed;
  gpointer data;
};

static gboolean
on_netlink (int fd, GIOCondition cond, gpointer data)
{
  ShNetWatch *w = data;
  char buf[8192];

  /* What changed does not matter, only that something did: drain it all.
   * ENOBUFS (events lost) is a change too. */
  for (;;)
    {
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0 && !(n < 0 && (errno == ENOBUFS || errno == EINTR)))
        break;
    }
  w->changed (w, w->data);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_poll (gpointer data)
{
  ShNetWatch *w = data;
  w->changed (w, w->data);
  return G_SOURCE_CONTINUE;
}

ShNetWatch *
sh_net_watch_new (guint poll_s, GFunc changed, gpointer data)
{
  ShNetWatch *w = g_new0 (ShNetWatch, 1);
  w->changed = changed;
  w->data = data;
  w->fd = socket (AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (w->fd >= 0)
    {
      struct sockaddr_nl sa = {
        .nl_family = AF_NETLINK,
        .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE
                     | RTMGRP_IPV6_ROUTE,
      };
      if (bind (w->fd, (struct sockaddr *) &sa, sizeof sa) < 0)
        {
          close (w->fd);
          w->fd = -1;
        }
    }
  if (w->fd >= 0)
    w->fd_id = g_unix_fd_add (w->fd, G_IO_IN, on_netlink, w);
  w->poll_id = g_timeout_add_seconds (poll_s, on_poll, w);
  return w;
}

void
sh_net_watch_free (ShNetWatch *w)
{
  if (w == NULL)
    return;
  g_clear_handle_id (&w->fd_id, g_source_remove);
  g_clear_handle_id (&w->poll_id, g_source_remove);
  if (w->fd >= 0)
    close (w->fd);
  g_free (w);
}
