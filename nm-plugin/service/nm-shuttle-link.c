/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "nm-shuttle-link.h"

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

gboolean
sh_nm_link_open (ShNmLink *link, GError **error)
{
  struct ifreq ifr = { 0 };
  int s;

  link->fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (link->fd < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   _ ("cannot open /dev/net/tun: %s"), g_strerror (errno));
      return FALSE;
    }
  /* The kernel picks the first free shuttleN. */
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  g_strlcpy (ifr.ifr_name, "shuttle%d", IFNAMSIZ);
  if (ioctl (link->fd, TUNSETIFF, &ifr) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   _ ("cannot create a tun link: %s"), g_strerror (errno));
      sh_nm_link_close (link);
      return FALSE;
    }
  g_strlcpy (link->name, ifr.ifr_name, sizeof link->name);
  s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s >= 0 && ioctl (s, SIOCGIFFLAGS, &ifr) == 0)
    {
      ifr.ifr_flags |= IFF_UP;
      if (ioctl (s, SIOCSIFFLAGS, &ifr) < 0)
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                     _ ("cannot set the link %s up: %s"), link->name, g_strerror (errno));
    }
  if (s >= 0)
    close (s);
  if (error != NULL && *error != NULL)
    {
      sh_nm_link_close (link);
      return FALSE;
    }
  return TRUE;
}

void
sh_nm_link_close (ShNmLink *link)
{
  if (link->fd >= 0)
    close (link->fd);
  link->fd = -1;
  link->name[0] = '\0';
}

static gboolean
address_in_use (int family, const void *addr)
{
  struct ifaddrs *all = NULL;
  gboolean used = FALSE;

  if (getifaddrs (&all) < 0)
    return FALSE;
  for (struct ifaddrs *i = all; i != NULL && !used; i = i->ifa_next)
    {
      if (i->ifa_addr == NULL || i->ifa_addr->sa_family != family)
        continue;
      if (family == AF_INET)
        used = memcmp (&((struct sockaddr_in *) i->ifa_addr)->sin_addr, addr, 4) == 0;
      else
        used = memcmp (&((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr, addr, 16) == 0;
    }
  freeifaddrs (all);
  return used;
}

guint32
sh_nm_stub_address4 (guint seed)
{
  /* 100.115.92.1 + n: a corner of 100.64.0.0/10, host parts 1..254. */
  for (guint n = 0; n < 4096; n++)
    {
      guint k = (seed + n) % 4096;
      guint32 host = (100u << 24) | (115u << 16) | ((92u + k / 254) << 8) | (1 + k % 254);
      guint32 net = g_htonl (host);
      if (!address_in_use (AF_INET, &net))
        return net;
    }
  return g_htonl ((100u << 24) | (115u << 16) | (92u << 8) | 1);
}

void
sh_nm_stub_address6 (guint seed, struct in6_addr *out)
{
  static const guint8 prefix[8] = { 0xfd, 0x53, 0x68, 0x75, 0x74, 0x74, 0x6c, 0x65 };

  for (guint n = 0; n < 4096; n++)
    {
      guint k = (seed + n) % 4096 + 1;
      memset (out, 0, sizeof *out);
      memcpy (out->s6_addr, prefix, 8);
      out->s6_addr[14] = k >> 8;
      out->s6_addr[15] = k & 0xff;
      if (!address_in_use (AF_INET6, out))
        return;
    }
}
