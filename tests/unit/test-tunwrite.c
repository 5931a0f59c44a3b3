/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-tunwrite.c — packets into a real tun device (service/tunwrite.c),
 * in a network namespace of the test's own (root only; skipped otherwise):
 * what the kernel hands to local UDP sockets is every datagram, whole,
 * alone and in order, whether it went as a UDP GSO group, with a partial
 * checksum alone, or whole without the device's header; and what a local
 * UDP_SEGMENT sender sends comes out of it as one GSO packet. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "tunwrite.h"

/* The newest device's number: each has its own subnets, 10.77.<n>.0/24
 * and fd77:<n>::/64. A closed device goes away in the background, and
 * while two held one address, the old one took its local route along. */
static guint dev_n;

/* The device's far side (the packets' source) or this side, of @family. */
static void
addr (int family, gboolean near, guint8 *out)
{
  g_autofree char *text = family == AF_INET ? g_strdup_printf ("10.77.%u.%u", dev_n, near ? 1 : 2)
                                            : g_strdup_printf ("fd77:%x::%u", dev_n, near ? 1 : 2);

  g_assert_cmpint (inet_pton (family, text, out), ==, 1);
}

static gboolean netns_ready;

static gboolean
run (const char *cmd)
{
  g_autoptr (GError) error = NULL;
  int status = -1;

  if (!g_spawn_command_line_sync (cmd, NULL, NULL, &status, &error) || status != 0)
    {
      g_printerr ("%s: %s\n", cmd, error ? error->message : "failed");
      return FALSE;
    }
  return TRUE;
}

static gboolean
enter_netns (void)
{
  if (netns_ready)
    return TRUE;
  if (geteuid () != 0)
    {
      g_test_skip ("needs root for a network namespace and a tun device");
      return FALSE;
    }
  if (unshare (CLONE_NEWNET) != 0)
    {
      g_autofree char *msg = g_strdup_printf ("unshare(CLONE_NEWNET): %s", g_strerror (errno));
      g_test_skip (msg);
      return FALSE;
    }
  netns_ready = TRUE;
  return TRUE;
}

/* A new tun device "tw<n>", up, with this side's addresses: its fd (the
 * device goes when it is closed). */
static int
tun_open (gboolean vnet)
{
  static guint n;
  struct ifreq ifr = { 0 };
  int fd = open ("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  g_autofree char *cmd = NULL;

  g_assert_cmpint (fd, >=, 0);
  dev_n = n;
  g_snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "tw%u", n++);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  g_assert_cmpint (ioctl (fd, TUNSETIFF, &ifr), ==, 0);
  cmd = g_strdup_printf ("sh -c 'ip link set %s up mtu 65535 && "
                         "ip addr add 10.77.%u.1/24 dev %s && "
                         "ip addr add fd77:%x::1/64 dev %s nodad'",
                         ifr.ifr_name, dev_n, ifr.ifr_name, dev_n, ifr.ifr_name);
  g_assert_true (run (cmd));
  return fd;
}

static int
receiver (int family, guint16 *port)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  int fd = socket (family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int room = 8 * 1024 * 1024;
  struct timeval tv = { .tv_sec = 2 };

  g_assert_cmpint (fd, >=, 0);
  if (family == AF_INET)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

      sin->sin_family = AF_INET;
      addr (AF_INET, TRUE, (guint8 *) &sin->sin_addr);
      len = sizeof *sin;
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

      sin6->sin6_family = AF_INET6;
      addr (AF_INET6, TRUE, (guint8 *) &sin6->sin6_addr);
      len = sizeof *sin6;
    }
  setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof room);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &ss, len), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &ss, &len), ==, 0);
  *port = ntohs (family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                   : ((struct sockaddr_in6 *) &ss)->sin6_port);
  return fd;
}

/* Datagram @n of a test: @len bytes that say which one it is. */
static void
fill (guint8 *buf, gsize len, guint n)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) (n * 7 + i);
}

static void
put (ShTunWriter *w, int family, guint16 sport, guint16 dport, gsize len, guint n)
{
  static guint8 buf[65536];
  ShPacket p = { .family = family == AF_INET ? 4 : 6, .kind = SH_PKT_KIND_UDP };

  addr (family, FALSE, p.src);
  addr (family, TRUE, p.dst);
  p.sport = sport;
  p.dport = dport;
  fill (buf, len, n);
  p.payload = buf;
  p.payload_len = len;
  sh_tun_writer_put (w, &p);
}

/* The next datagram on @fd is @len bytes of datagram @n from port @sport. */
static void
expect (int fd, guint16 sport, gsize len, guint n)
{
  static guint8 got[65536], want[65536];
  struct sockaddr_storage from;
  socklen_t flen = sizeof from;
  ssize_t m = recvfrom (fd, got, sizeof got, 0, (struct sockaddr *) &from, &flen);

  g_assert_cmpint (m, ==, (ssize_t) len);
  g_assert_cmpuint (ntohs (from.ss_family == AF_INET ? ((struct sockaddr_in *) &from)->sin_port
                                                     : ((struct sockaddr_in6 *) &from)->sin6_port),
                    ==, sport);
  fill (want, len, n);
  g_assert_cmpmem (got, len, want, len);
}

static void
expect_nothing (int fd)
{
  guint8 b;

  g_assert_cmpint (recv (fd, &b, 1, MSG_DONTWAIT), ==, -1);
}

/* A run of 20 equal datagrams and a shorter last one, both families, then
 * 100 equal ones (two groups: 64 + 36), two senders taking turns (no group)
 * and a 60,000-byte datagram alone. With @gso FALSE, as on a kernel before
 * 6.2: the same, one write each. */
static void
check_runs (gboolean vnet, gboolean gso)
{
  g_autoptr (ShTunWriter) w = NULL;
  ShTunWriterStats st;
  guint16 port4, port6;
  int fd, r4, r6;
  guint64 writes;

  if (!enter_netns ())
    return;
  fd = tun_open (vnet);
  w = sh_tun_writer_new (fd);
  g_assert_cmpuint (sh_tun_writer_header_len (w), ==, vnet ? 10 : 0);
  if (!gso)
    sh_tun_writer_set_gso (w, FALSE);
  r4 = receiver (AF_INET, &port4);
  r6 = receiver (AF_INET6, &port6);

  for (int family = AF_INET; family != -1; family = family == AF_INET ? AF_INET6 : -1)
    {
      int r = family == AF_INET ? r4 : r6;
      guint16 port = family == AF_INET ? port4 : port6;

      for (guint i = 0; i < 20; i++)
        put (w, family, 5000, port, 1200, i);
      put (w, family, 5000, port, 500, 20); /* ends the run: written now */
      for (guint i = 0; i < 21; i++)
        expect (r, 5000, i < 20 ? 1200 : 500, i);
      expect_nothing (r);
    }
  sh_tun_writer_get_stats (w, &st);
  g_assert_cmpuint (st.packets, ==, 42);
  g_assert_cmpuint (st.bytes, ==, 2 * (20 * 1200 + 500));
  g_assert_cmpuint (st.dropped, ==, 0);
  g_assert_cmpuint (st.grouped, ==, vnet && gso ? 42 : 0);
  g_assert_cmpuint (st.writes, ==, vnet && gso ? 2 : 42);
  writes = st.writes;

  for (guint i = 0; i < 100; i++)
    put (w, AF_INET, 5001, port4, 1000, i);
  sh_tun_writer_flush (w);
  for (guint i = 0; i < 100; i++)
    expect (r4, 5001, 1000, i);
  sh_tun_writer_get_stats (w, &st);
  g_assert_cmpuint (st.writes - writes, ==, vnet && gso ? 2 : 100);
  writes = st.writes;

  for (guint i = 0; i < 10; i++)
    put (w, AF_INET, i % 2 ? 5003 : 5002, port4, 800, i);
  put (w, AF_INET, 5004, port4, 60000, 10);
  sh_tun_writer_flush (w);
  for (guint i = 0; i < 10; i++)
    expect (r4, i % 2 ? 5003 : 5002, 800, i);
  expect (r4, 5004, 60000, 10);
  sh_tun_writer_get_stats (w, &st);
  g_assert_cmpuint (st.writes - writes, ==, 11);
  g_assert_cmpuint (st.dropped, ==, 0);

  close (r4);
  close (r6);
  g_clear_pointer (&w, sh_tun_writer_free);
  close (fd);
}

static void
test_gso (void)
{
  check_runs (TRUE, TRUE);
}

static void
test_no_gso (void)
{
  check_runs (TRUE, FALSE);
}

static void
test_no_header (void)
{
  check_runs (FALSE, FALSE);
}

/* Datagrams left waiting by a caller outside a batch of events: the idle
 * writes them. */
static void
test_idle_flush (void)
{
  g_autoptr (ShTunWriter) w = NULL;
  guint16 port;
  int fd, r;

  if (!enter_netns ())
    return;
  fd = tun_open (TRUE);
  w = sh_tun_writer_new (fd);
  r = receiver (AF_INET, &port);
  for (guint i = 0; i < 3; i++)
    put (w, AF_INET, 6000, port, 100, i);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  for (guint i = 0; i < 3; i++)
    expect (r, 6000, 100, i);
  close (r);
  g_clear_pointer (&w, sh_tun_writer_free);
  close (fd);
}

/* Kernels this one cannot be, made with seccomp in a child process: the
 * syscall the filter matches fails with EINVAL, as the older kernel's does.
 * The low 32 bits of argument @i. */
#if G_BYTE_ORDER == G_BIG_ENDIAN
#define ARG_LOW(i) (offsetof (struct seccomp_data, args[0]) + (i) *8 + 4)
#else
#define ARG_LOW(i) (offsetof (struct seccomp_data, args[0]) + (i) *8)
#endif

static void
install (struct sock_filter *code, gsize n)
{
  struct sock_fprog prog = { .len = (unsigned short) n, .filter = code };

  g_assert_cmpint (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), ==, 0);
  g_assert_cmpint (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), ==, 0);
}

/* Linux before 6.2: TUNSETOFFLOAD with a USO bit is EINVAL. */
static void
refuse_uso (void)
{
  struct sock_filter code[] = {
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 5),
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, ARG_LOW (1)),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (guint32) TUNSETOFFLOAD, 0, 3),
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, ARG_LOW (2)),
    BPF_JUMP (BPF_JMP | BPF_JSET | BPF_K, TUN_F_USO4 | TUN_F_USO6, 0, 1),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };

  install (code, G_N_ELEMENTS (code));
}

/* A kernel refusing groups: every write() of more than 2000 bytes (only
 * groups are, here) is EINVAL. */
static void
refuse_groups (void)
{
  struct sock_filter code[] = {
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, __NR_write, 0, 3),
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, ARG_LOW (2)),
    BPF_JUMP (BPF_JMP | BPF_JGT | BPF_K, 2000, 0, 1),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };

  install (code, G_N_ELEMENTS (code));
}

/* In a child under @refuse: a run of 20 datagrams and a shorter one, all
 * delivered, written one by one; the same again. */
static void
check_fallback (void (*refuse) (void))
{
  int fd, status;
  pid_t pid;

  if (!enter_netns ())
    return;
  fd = tun_open (TRUE);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      g_autoptr (ShTunWriter) w = NULL;
      ShTunWriterStats st;
      guint16 port;
      int r = receiver (AF_INET, &port);

      refuse ();
      w = sh_tun_writer_new (fd);
      for (guint round = 0; round < 2; round++)
        {
          for (guint i = 0; i < 21; i++)
            put (w, AF_INET, 5000, port, i < 20 ? 1200 : 500, i);
          for (guint i = 0; i < 21; i++)
            expect (r, 5000, i < 20 ? 1200 : 500, i);
          sh_tun_writer_get_stats (w, &st);
          g_assert_cmpuint (st.packets, ==, 21 * (round + 1));
          g_assert_cmpuint (st.writes, ==, 21 * (round + 1));
          g_assert_cmpuint (st.grouped, ==, 0);
          g_assert_cmpuint (st.dropped, ==, 0);
        }
      /* _exit() runs no cleanup, and valgrind counts what is left. */
      g_clear_pointer (&w, sh_tun_writer_free);
      close (r);
      _exit (0);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  close (fd);
}

/* Linux before 6.2 (Debian 12's 6.1): no USO offload, so no groups. */
static void
test_kernel_without_uso (void)
{
  check_fallback (refuse_uso);
}

/* A kernel that took the offload but refuses a group (EINVAL): the run is
 * written datagram by datagram, and no group is tried again. */
static void
test_group_refused (void)
{
  check_fallback (refuse_groups);
}

/* What a local program sends with UDP_SEGMENT reaches a reader of the
 * device as one packet whose header says GSO_UDP_L4 and the datagrams'
 * size, once the writer turned the offloads on (Linux 6.2): the contract
 * udptun.c splits by. */
static void
test_uso_read (void)
{
  g_autoptr (ShTunWriter) w = NULL;
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons (9) };
  int seg = 1000, fd, s;
  guint8 run[6300], buf[70000];
  struct utsname u;
  guint major = 0, minor = 0;

  if (!enter_netns ())
    return;
  uname (&u);
  if (sscanf (u.release, "%u.%u", &major, &minor) != 2 || major * 100 + minor < 602)
    {
      g_test_skip ("the tun device's USO offload needs Linux 6.2");
      return;
    }
  fd = tun_open (TRUE);
  w = sh_tun_writer_new (fd);
  s = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (setsockopt (s, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg), ==, 0);
  addr (AF_INET, FALSE, (guint8 *) &to.sin_addr);
  fill (run, sizeof run, 3);
  g_assert_cmpint (sendto (s, run, sizeof run, 0, (struct sockaddr *) &to, sizeof to), ==,
                   (ssize_t) sizeof run);
  for (int tries = 0; tries < 200; tries++)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      const struct virtio_net_hdr *vh = (const struct virtio_net_hdr *) buf;
      ShPacket p;
      ssize_t n;

      g_assert_cmpint (poll (&pfd, 1, 2000), ==, 1);
      n = read (fd, buf, sizeof buf);
      g_assert_cmpint (n, >, 10);
      /* The device's own router solicitations and MLD reports pass too. */
      if (sh_pkt_parse (buf + 10, (gsize) n - 10, &p) != SH_PKT_OK || p.kind != SH_PKT_KIND_UDP)
        continue;
      g_assert_cmpuint (vh->gso_type, ==, VIRTIO_NET_HDR_GSO_UDP_L4);
      g_assert_cmpuint (vh->gso_size, ==, 1000);
      g_assert_cmpuint (p.dport, ==, 9);
      g_assert_cmpmem (p.payload, p.payload_len, run, sizeof run);
      close (s);
      g_clear_pointer (&w, sh_tun_writer_free);
      close (fd);
      return;
    }
  g_assert_not_reached ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tunwrite/gso", test_gso);
  g_test_add_func ("/tunwrite/no-gso", test_no_gso);
  g_test_add_func ("/tunwrite/no-header", test_no_header);
  g_test_add_func ("/tunwrite/idle-flush", test_idle_flush);
  g_test_add_func ("/tunwrite/uso-read", test_uso_read);
  g_test_add_func ("/tunwrite/kernel-without-uso", test_kernel_without_uso);
  g_test_add_func ("/tunwrite/group-refused", test_group_refused);
  return g_test_run ();
}
