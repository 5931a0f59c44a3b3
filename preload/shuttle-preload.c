/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libshuttle-preload.so — `shuttle run`'s LD_PRELOAD library.
 *
 * connect() of a TCP socket (AF_INET or AF_INET6) to a destination in the
 * tunnelled subnets (SH_PRELOAD_ENV_NETS, minus SH_PRELOAD_ENV_EXCLUDE)
 * becomes a connection to the engine's Unix socket, put in place of the
 * program's socket with dup3() (the descriptor number, O_NONBLOCK and
 * FD_CLOEXEC stay), followed by a ShPreloadHeader naming the destination.
 * With SH_PRELOAD_ENV_DNS, getaddrinfo() of a name asks the engine over
 * the same socket (the far side's resolver answers). Everything else goes
 * to libc untouched.
 *
 * The environment is read once, by the constructor, before the program's
 * main() and its threads; afterwards the tables are only read. The table
 * of redirected descriptors (for getpeername) has a lock. Nothing here reads
 * from the network: the only input is the environment our engine set.
 * The dynamic loader itself ignores LD_PRELOAD for setuid programs, and
 * static programs never load us (shuttle warns before starting one). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "preload-wire.h"

#define EXPORT __attribute__ ((visibility ("default")))
/* Descriptors below this keep their original destination for getpeername(). */
#define PEERS 4096

typedef struct
{
  int family; /* AF_INET or AF_INET6 */
  uint8_t addr[16];
  int prefix;
  uint16_t lo, hi; /* 0, 0: all ports */
} Net;

typedef int (*ConnectFn) (int, const struct sockaddr *, socklen_t);
typedef int (*NameFn) (int, struct sockaddr *, socklen_t *);
typedef int (*SetsockoptFn) (int, int, int, const void *, socklen_t);
typedef int (*GetsockoptFn) (int, int, int, void *, socklen_t *);
typedef int (*GetaddrinfoFn) (const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

/* How long getaddrinfo() waits for the engine's answer (the engine gives
 * up on the far side after 10 s and says so). */
#define NAME_TIMEOUT_MS 15000

static Net nets[SH_PRELOAD_MAX_NETS], excludes[SH_PRELOAD_MAX_NETS];
static int n_nets, n_excludes;
static struct sockaddr_un door;
static socklen_t door_len;
static int enabled;
static int dns_enabled;
static char own_hostname[256];

static struct
{
  uint8_t used;
  struct sockaddr_in6 sa; /* or a sockaddr_in in its first bytes */
} peers[PEERS];
static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;

/* libc's @name, looked up once; a race only looks it up twice. */
static void *
lazy (void **slot, const char *name)
{
  void *f = __atomic_load_n (slot, __ATOMIC_ACQUIRE);

  if (f == NULL)
    {
      f = dlsym (RTLD_NEXT, name);
      __atomic_store_n (slot, f, __ATOMIC_RELEASE);
    }
  return f;
}

static void *connect_fn, *getpeername_fn, *getsockname_fn, *setsockopt_fn, *getsockopt_fn,
    *getaddrinfo_fn;

static int
real_connect (int fd, const struct sockaddr *sa, socklen_t len)
{
  ConnectFn f = (ConnectFn) lazy (&connect_fn, "connect");

  if (f == NULL)
    {
      errno = ENOSYS;
      return -1;
    }
  return f (fd, sa, len);
}

/* One "ADDR/PREFIX[/LO-HI]" of @len bytes; 0 or -1. */
static int
parse_net (const char *s, size_t len, Net *n)
{
  char buf[128], *slash, *end;
  long v;

  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy (buf, s, len);
  buf[len] = '\0';
  slash = strchr (buf, '/');
  if (slash == NULL)
    return -1;
  *slash++ = '\0';
  memset (n, 0, sizeof *n);
  if (inet_pton (AF_INET, buf, n->addr) == 1)
    n->family = AF_INET;
  else if (inet_pton (AF_INET6, buf, n->addr) == 1)
    n->family = AF_INET6;
  else
    return -1;
  v = strtol (slash, &end, 10);
  if (end == slash || v < 0 || v > (n->family == AF_INET ? 32 : 128))
    return -1;
  n->prefix = (int) v;
  if (*end == '/')
    {
      char *dash;
      long lo = strtol (end + 1, &dash, 10), hi;

      if (*dash != '-')
        return -1;
      hi = strtol (dash + 1, &end, 10);
      if (lo < 1 || hi < lo || hi > 65535)
        return -1;
      n->lo = (uint16_t) lo;
      n->hi = (uint16_t) hi;
    }
  return *end == '\0' ? 0 : -1;
}

static int
parse_nets (const char *s, Net *out)
{
  int n = 0;

  while (s != NULL && *s != '\0' && n < SH_PRELOAD_MAX_NETS)
    {
      const char *comma = strchr (s, ',');
      size_t len = comma ? (size_t) (comma - s) : strlen (s);

      if (parse_net (s, len, &out[n]) == 0)
        n++;
      s = comma ? comma + 1 : NULL;
    }
  return n;
}

__attribute__ ((constructor)) static void
init (void)
{
  const char *path = getenv (SH_PRELOAD_ENV_SOCKET);

  if (path == NULL || path[0] != '/' || strlen (path) >= sizeof door.sun_path)
    return;
  door.sun_family = AF_UNIX;
  strcpy (door.sun_path, path);
  door_len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + strlen (path) + 1);
  n_nets = parse_nets (getenv (SH_PRELOAD_ENV_NETS), nets);
  n_excludes = parse_nets (getenv (SH_PRELOAD_ENV_EXCLUDE), excludes);
  enabled = n_nets > 0;
  {
    const char *dns = getenv (SH_PRELOAD_ENV_DNS);

    dns_enabled = dns != NULL && strcmp (dns, "1") == 0;
    if (gethostname (own_hostname, sizeof own_hostname - 1) < 0)
      own_hostname[0] = '\0';
  }
}

static int
in_net (const Net *n, int family, const uint8_t *addr, uint16_t port)
{
  int bits = n->prefix;

  if (n->family != family)
    return 0;
  if (memcmp (n->addr, addr, (size_t) (bits / 8)) != 0)
    return 0;
  if (bits % 8 != 0)
    {
      uint8_t mask = (uint8_t) (0xff << (8 - bits % 8));

      if ((n->addr[bits / 8] & mask) != (addr[bits / 8] & mask))
        return 0;
    }
  return n->lo == 0 || (port >= n->lo && port <= n->hi);
}

static int
tunnelled (int family, const uint8_t *addr, uint16_t port)
{
  int hit = 0;

  for (int i = 0; i < n_excludes; i++)
    if (in_net (&excludes[i], family, addr, port))
      return 0;
  for (int i = 0; i < n_nets && !hit; i++)
    hit = in_net (&nets[i], family, addr, port);
  return hit;
}

/* Whether @fd is (still) a socket connected to our engine's door. */
static int
is_door (int fd)
{
  NameFn fn = (NameFn) lazy (&getpeername_fn, "getpeername");
  struct sockaddr_un un;
  socklen_t len = sizeof un;

  if (fn == NULL || fn (fd, (struct sockaddr *) &un, &len) < 0 || un.sun_family != AF_UNIX)
    return 0;
  return len == door_len
         && memcmp (un.sun_path, door.sun_path, len - offsetof (struct sockaddr_un, sun_path)) == 0;
}

static int
write_all (int fd, const void *buf, size_t len)
{
  const uint8_t *p = buf;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return -1;
      p += n;
      len -= (size_t) n;
    }
  return 0;
}

/* Puts a connection to the engine, announcing @h, in place of @fd. */
static int
redirect (int fd, const ShPreloadHeader *h, const struct sockaddr *sa, socklen_t sa_len)
{
  int status = fcntl (fd, F_GETFL), fdflags = fcntl (fd, F_GETFD);
  int u, saved;

  if (status < 0 || fdflags < 0)
    return -1;
  u = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (u < 0)
    return -1;
  if (real_connect (u, (struct sockaddr *) &door, door_len) < 0 || write_all (u, h, sizeof *h) < 0)
    {
      /* The engine is gone: refused, never sent around the tunnel. */
      close (u);
      errno = ECONNREFUSED;
      return -1;
    }
  if (dup3 (u, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
    {
      saved = errno;
      close (u);
      errno = saved;
      return -1;
    }
  close (u);
  if ((status & O_NONBLOCK) && fcntl (fd, F_SETFL, O_NONBLOCK) < 0)
    return -1;
  if (fd >= 0 && fd < PEERS)
    {
      pthread_mutex_lock (&peers_lock);
      peers[fd].used = 1;
      memset (&peers[fd].sa, 0, sizeof peers[fd].sa);
      memcpy (&peers[fd].sa, sa, sa_len < sizeof peers[fd].sa ? sa_len : sizeof peers[fd].sa);
      pthread_mutex_unlock (&peers_lock);
    }
  return 0;
}

EXPORT int
connect (int fd, const struct sockaddr *sa, socklen_t len)
{
  ShPreloadHeader h = { { 0 } };
  static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
  int type = 0, proto = 0;
  socklen_t tl = sizeof type, pl = sizeof proto;
  uint16_t port;

  if (!enabled || sa == NULL)
    return real_connect (fd, sa, len);
  if (sa->sa_family == AF_INET && len >= sizeof (struct sockaddr_in))
    {
      const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

      h.family = 4;
      memcpy (h.addr, &in->sin_addr, 4);
      port = ntohs (in->sin_port);
    }
  else if (sa->sa_family == AF_INET6 && len >= sizeof (struct sockaddr_in6))
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

      port = ntohs (in6->sin6_port);
      if (memcmp (&in6->sin6_addr, mapped, 12) == 0)
        {
          h.family = 4;
          memcpy (h.addr, (const uint8_t *) &in6->sin6_addr + 12, 4);
        }
      else
        {
          h.family = 6;
          memcpy (h.addr, &in6->sin6_addr, 16);
        }
    }
  else
    return real_connect (fd, sa, len);
  if (port == 0 || !tunnelled (h.family == 4 ? AF_INET : AF_INET6, h.addr, port))
    return real_connect (fd, sa, len);
  /* TCP only: UDP's connect() and everything else stay as they are. */
  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM
      || getsockopt (fd, SOL_SOCKET, SO_PROTOCOL, &proto, &pl) < 0 || proto != IPPROTO_TCP)
    return real_connect (fd, sa, len);
  memcpy (h.magic, SH_PRELOAD_MAGIC, 4);
  h.port[0] = (uint8_t) (port >> 8);
  h.port[1] = (uint8_t) port;
  return redirect (fd, &h, sa, len);
}

/* The destination the program asked for, for a socket we redirected. */
EXPORT int
getpeername (int fd, struct sockaddr *sa, socklen_t *len)
{
  NameFn fn = (NameFn) lazy (&getpeername_fn, "getpeername");
  int ours = 0;

  if (fn == NULL)
    {
      errno = ENOSYS;
      return -1;
    }
  if (enabled && fd >= 0 && fd < PEERS && sa != NULL && len != NULL && is_door (fd))
    {
      pthread_mutex_lock (&peers_lock);
      if (peers[fd].used)
        {
          socklen_t n = peers[fd].sa.sin6_family == AF_INET ? sizeof (struct sockaddr_in)
                                                            : sizeof (struct sockaddr_in6);

          memcpy (sa, &peers[fd].sa, *len < n ? *len : n);
          *len = n;
          ours = 1;
        }
      pthread_mutex_unlock (&peers_lock);
    }
  return ours ? 0 : fn (fd, sa, len);
}

/* The local address of a redirected socket: the wildcard of its family,
 * port 0 (there is no such TCP socket on this host). */
EXPORT int
getsockname (int fd, struct sockaddr *sa, socklen_t *len)
{
  NameFn fn = (NameFn) lazy (&getsockname_fn, "getsockname");
  int family = 0;

  if (fn == NULL)
    {
      errno = ENOSYS;
      return -1;
    }
  if (enabled && fd >= 0 && fd < PEERS && sa != NULL && len != NULL && is_door (fd))
    {
      pthread_mutex_lock (&peers_lock);
      if (peers[fd].used)
        family = peers[fd].sa.sin6_family;
      pthread_mutex_unlock (&peers_lock);
    }
  if (family == 0)
    return fn (fd, sa, len);
  {
    struct sockaddr_in6 any = { .sin6_family = (sa_family_t) family };
    socklen_t n = family == AF_INET ? sizeof (struct sockaddr_in) : sizeof (struct sockaddr_in6);

    memcpy (sa, &any, *len < n ? *len : n);
    *len = n;
  }
  return 0;
}

/* TCP and IP options (TCP_NODELAY, keep-alive intervals, TOS) on a
 * redirected socket are accepted and ignored: a Unix socket has none, and
 * programs such as Python's asyncio treat the error as fatal. */
EXPORT int
setsockopt (int fd, int level, int name, const void *val, socklen_t len)
{
  SetsockoptFn fn = (SetsockoptFn) lazy (&setsockopt_fn, "setsockopt");

  if (fn == NULL)
    {
      errno = ENOSYS;
      return -1;
    }
  if (enabled && (level == IPPROTO_TCP || level == IPPROTO_IP || level == IPPROTO_IPV6)
      && is_door (fd))
    return 0;
  return fn (fd, level, name, val, len);
}

/* TCP and IP options read from a redirected socket are zero (of the length
 * asked for): programs such as iperf3 read TCP_MAXSEG or TCP_INFO and give
 * up on the Unix socket's EOPNOTSUPP. */
EXPORT int
getsockopt (int fd, int level, int name, void *val, socklen_t *len)
{
  GetsockoptFn fn = (GetsockoptFn) lazy (&getsockopt_fn, "getsockopt");

  if (fn == NULL)
    {
      errno = ENOSYS;
      return -1;
    }
  if (enabled && val != NULL && len != NULL
      && (level == IPPROTO_TCP || level == IPPROTO_IP || level == IPPROTO_IPV6) && is_door (fd))
    {
      memset (val, 0, *len);
      return 0;
    }
  return fn (fd, level, name, val, len);
}

/* ----------------------------------------------------- names (--dns) */

static int
ends_with (const char *s, size_t len, const char *suffix)
{
  size_t n = strlen (suffix);

  return len >= n && strncasecmp (s + len - n, suffix, n) == 0;
}

/* Names that stay with libc: numbers, and this host's own names. */
static int
local_name (const char *name, size_t len)
{
  uint8_t buf[16];
  struct in_addr a4;

  if (inet_pton (AF_INET6, name, buf) == 1 || inet_aton (name, &a4) != 0)
    return 1;
  if ((len == 9 && strncasecmp (name, "localhost", 9) == 0) || ends_with (name, len, ".localhost")
      || (len == 21 && strncasecmp (name, "localhost.localdomain", 21) == 0))
    return 1;
  return own_hostname[0] != '\0' && strlen (own_hostname) == len
         && strncasecmp (name, own_hostname, len) == 0;
}

static int
read_all (int fd, uint8_t *buf, size_t len)
{
  size_t got = 0;

  while (got < len)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      int r = poll (&pfd, 1, NAME_TIMEOUT_MS);
      ssize_t n;

      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return -1;
      n = read (fd, buf + got, len - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return -1;
      got += (size_t) n;
    }
  return 0;
}

/* Asks the engine for @name (@len bytes) of @family (0, 4, 6): 0 with
 * *@af and @addr set, or an EAI_ code. */
static int
ask_engine (const char *name, size_t len, int family, int *af, uint8_t addr[16])
{
  uint8_t req[sizeof (ShPreloadNameHeader) + SH_PRELOAD_NAME_MAX];
  uint8_t ans[sizeof (ShPreloadAnswer)];
  ShPreloadNameHeader h = { .family = (uint8_t) family, .len = (uint8_t) len };
  int u, r, saved = errno;

  memcpy (h.magic, SH_PRELOAD_NAME_MAGIC, 4);
  memcpy (req, &h, sizeof h);
  memcpy (req + sizeof h, name, len);
  u = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (u < 0)
    return EAI_SYSTEM;
  if (real_connect (u, (struct sockaddr *) &door, door_len) < 0
      || write_all (u, req, sizeof h + len) < 0 || read_all (u, ans, sizeof ans) < 0)
    r = -2; /* the engine is gone or silent: never asked around the tunnel */
  else
    r = sh_preload_answer_parse (ans, sizeof ans, af, addr);
  close (u);
  errno = saved;
  return r == 0 ? 0 : r == -1 ? EAI_NONAME : EAI_AGAIN;
}

/* With --dns, a name goes to the far side's resolver through the engine;
 * the address it gives is then handed to libc as a number, so the service,
 * socket types and flags are libc's own work, and freeaddrinfo() frees it. */
EXPORT int
getaddrinfo (const char *node, const char *service, const struct addrinfo *hints,
             struct addrinfo **res)
{
  GetaddrinfoFn fn = (GetaddrinfoFn) lazy (&getaddrinfo_fn, "getaddrinfo");
  int family = hints ? hints->ai_family : AF_UNSPEC;
  struct addrinfo h = { 0 };
  char name[SH_PRELOAD_NAME_MAX + 2], text[INET6_ADDRSTRLEN];
  uint8_t addr[16];
  size_t len;
  int af, r;

  if (fn == NULL)
    return EAI_SYSTEM;
  if (!dns_enabled || node == NULL || (hints && (hints->ai_flags & AI_NUMERICHOST))
      || (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
    return fn (node, service, hints, res);
  len = strlen (node);
  if (len > 0 && node[len - 1] == '.')
    len--; /* a fully qualified name's final dot */
  if (len == 0 || len > SH_PRELOAD_NAME_MAX || local_name (node, len))
    return fn (node, service, hints, res);
  memcpy (name, node, len);
  name[len] = '\0';
  r = ask_engine (name, len, family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0, &af, addr);
  if (r != 0)
    return r;
  if (inet_ntop (af, addr, text, sizeof text) == NULL)
    return EAI_SYSTEM;
  if (hints)
    h = *hints;
  h.ai_flags = (h.ai_flags | AI_NUMERICHOST) & ~AI_CANONNAME;
  r = fn (text, service, &h, res);
  if (r == 0 && hints && (hints->ai_flags & AI_CANONNAME) && *res != NULL)
    (*res)->ai_canonname = strdup (name);
  return r;
}
