/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of fw-sockowner: the decision (pure) and the sock_diag listing
 * against real sockets of this process (no root needed). */
#include "config.h"

#include <arpa/inet.h>
#include <glib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fw-request.h"
#include "fw-sockowner.h"

static ShFwSock
sock (const char *address, guint32 uid)
{
  ShFwSock s = { .family = strchr (address, ':') ? AF_INET6 : AF_INET, .uid = uid };

  g_assert_cmpint (inet_pton (s.family, address, s.addr), ==, 1);
  return s;
}

static gboolean
decide (guint32 uid, GError **error, ...)
{
  g_autoptr (GArray) socks = g_array_new (FALSE, TRUE, sizeof (ShFwSock));
  va_list ap;

  va_start (ap, error);
  for (const char *a = va_arg (ap, const char *); a != NULL; a = va_arg (ap, const char *))
    {
      ShFwSock s = sock (a, va_arg (ap, guint32));
      g_array_append_val (socks, s);
    }
  va_end (ap);
  return sh_fw_port_decide (socks, IPPROTO_TCP, 12300, uid, error);
}

static void
test_decide (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (decide (1000, NULL, "127.0.0.1", 1000u, NULL));
  g_assert_true (decide (1000, NULL, "::1", 1000u, NULL));
  g_assert_true (decide (1000, NULL, "0.0.0.0", 1000u, "::", 1000u, NULL));
  g_assert_true (decide (1000, NULL, "::ffff:127.0.0.1", 1000u, NULL));
  /* A socket on another address never sees redirected traffic: it neither
   * counts for the caller nor against it. */
  g_assert_true (decide (1000, NULL, "127.0.0.1", 1000u, "10.0.0.1", 1001u, NULL));

  g_assert_false (decide (1000, &error, NULL));
  g_assert_error (error, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED);
  g_assert_cmpstr (error->message, ==,
                   "TCP port 12300 is not a loopback listener of uid 1000: nothing listens on "
                   "127.0.0.1, ::1 or a wildcard address at that port");
  g_clear_error (&error);
  g_assert_false (decide (1000, &error, "10.0.0.1", 1000u, "127.0.0.2", 1000u, NULL));
  g_assert_error (error, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED);
  g_clear_error (&error);
  /* Another user's socket that would receive part of the traffic: refused
   * even when the caller listens too (IPv6 would go to the other one). */
  g_assert_false (decide (1000, &error, "127.0.0.1", 1000u, "::1", 1001u, NULL));
  g_assert_cmpstr (error->message, ==,
                   "TCP port 12300 is not a loopback listener of uid 1000: uid 1001 listens there");
  g_clear_error (&error);
  g_assert_false (decide (1000, &error, "127.0.0.1", 1001u, NULL));
  g_clear_error (&error);
  g_assert_false (decide (0, &error, "0.0.0.0", 1000u, NULL));
  g_clear_error (&error);
  g_assert_false (decide (1000, &error, "::", 0u, NULL));
}

/* A socket of @type bound to 127.0.0.1 on a free port; listening for TCP. */
static int
bound (int type, guint16 *port)
{
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof sa;
  int fd = socket (AF_INET, type, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  if (type == SOCK_STREAM)
    g_assert_cmpint (listen (fd, 1), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sa, &len), ==, 0);
  *port = ntohs (sa.sin_port);
  return fd;
}

static void
test_real_sockets (void)
{
  const int protocols[] = { IPPROTO_TCP, IPPROTO_UDP };

  for (guint i = 0; i < G_N_ELEMENTS (protocols); i++)
    {
      g_autoptr (GError) error = NULL;
      guint16 port;
      int fd = bound (protocols[i] == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM, &port);
      g_autoptr (GArray) socks = sh_fw_port_list (protocols[i], port, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (socks->len, ==, 1);
      g_assert_cmpuint (g_array_index (socks, ShFwSock, 0).uid, ==, getuid ());
      g_assert_true (sh_fw_port_check (protocols[i], port, getuid (), &error));
      g_assert_false (sh_fw_port_check (protocols[i], port, getuid () + 1, &error));
      g_assert_error (error, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED);
      g_test_message ("%s", error->message);
      g_clear_error (&error);
      close (fd);
      g_assert_false (sh_fw_port_check (protocols[i], port, getuid (), &error));
      g_assert_error (error, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED);
    }
}

/* A TCP listener is not a UDP socket, and a connected UDP socket is not a
 * listener: each protocol asks about its own kind. */
static void
test_kinds (void)
{
  g_autoptr (GError) error = NULL;
  guint16 port, peer_port;
  int tcp = bound (SOCK_STREAM, &port);
  int peer = bound (SOCK_DGRAM, &peer_port);
  int udp = socket (AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK),
                            .sin_port = htons (port) };
  struct sockaddr_in to = sa;

  g_assert_false (sh_fw_port_check (IPPROTO_UDP, port, getuid (), &error));
  g_clear_error (&error);
  /* UDP on the same port as the TCP listener, connected to the peer. */
  g_assert_cmpint (bind (udp, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  to.sin_port = htons (peer_port);
  g_assert_cmpint (connect (udp, (struct sockaddr *) &to, sizeof to), ==, 0);
  g_assert_false (sh_fw_port_check (IPPROTO_UDP, port, getuid (), &error));
  close (udp);
  close (peer);
  close (tcp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sockowner/decide", test_decide);
  g_test_add_func ("/sockowner/real-sockets", test_real_sockets);
  g_test_add_func ("/sockowner/kinds", test_kinds);
  return g_test_run ();
}
