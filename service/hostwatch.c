/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "hostwatch.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "hostname.h"

#define RESCAN_S 15
#define MAX_PAIRS 16384
#define TOOL_TIMEOUT "5" /* seconds, for timeout(1) */

/* The worker's link back: cleared when the watch goes, so a scan that ends
 * after the session did touches nothing. */
typedef struct
{
  ShHostWatch *watch;
} Link;

struct _ShHostWatch
{
  ShSession *session;
  char **seeds;
  GHashTable *sent; /* "address name" */
  Link *link;       /* of the scan running now, or NULL */
  guint timer;
};

/* A name as a hosts line may hold it: one trailing dot dropped, checked. */
static char *
clean_name (const char *name)
{
  gsize len = strlen (name);
  if (len > 0 && name[len - 1] == '.')
    len--;
  if (!sh_hostname_is_valid (name, len))
    return NULL;
  return g_strndup (name, len);
}

static void
add_pair (GPtrArray *out, const char *addr, const char *name)
{
  guint8 bin[16];
  char canon[INET6_ADDRSTRLEN];
  int af = inet_pton (AF_INET, addr, bin) == 1    ? AF_INET
           : inet_pton (AF_INET6, addr, bin) == 1 ? AF_INET6
                                                  : 0;
  g_autofree char *n = clean_name (name);
  static const guint8 v6_any[16] = { 0 }, v6_loopback[16] = { [15] = 1 };

  if (af == 0 || n == NULL)
    return;
  /* What names no host of this network for the client: a loopback, any or
   * multicast address ("localhost" of our own /etc/hosts), and a
   * link-local one, to which a hosts line cannot give its interface. The
   * client checks again, against its own tunnel: it cannot trust us. */
  if (af == AF_INET && (bin[0] == 127 || bin[0] == 0 || bin[0] >= 224))
    return;
  if (af == AF_INET6
      && (memcmp (bin, v6_any, 16) == 0 || memcmp (bin, v6_loopback, 16) == 0 || bin[0] == 0xff
          || (bin[0] == 0xfe && (bin[1] & 0xc0) == 0x80)))
    return;
  inet_ntop (af, bin, canon, sizeof canon);
  g_ptr_array_add (out, g_strdup (canon));
  g_ptr_array_add (out, g_steal_pointer (&n));
}

void
sh_host_watch_parse_hosts (const char *text, GPtrArray *out)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      char *hash = strchr (lines[i], '#');
      if (hash)
        *hash = '\0';
      g_auto (GStrv) w = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      const char *addr = NULL;
      for (guint j = 0; w[j]; j++)
        {
          if (w[j][0] == '\0')
            continue;
          if (addr == NULL)
            addr = w[j];
          else
            add_pair (out, addr, w[j]);
        }
    }
}

/* IP address  HW type  Flags  HW address  Mask  Device: complete entries
 * (flags not 0x0). */
void
sh_host_watch_parse_arp (const char *text, GPtrArray *addresses)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 1; lines[0] && lines[i]; i++)
    {
      g_auto (GStrv) w = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      const char *f[3];
      guint n = 0;
      for (guint j = 0; w[j] && n < 3; j++)
        if (w[j][0] != '\0')
          f[n++] = w[j];
      guint8 bin[4];
      if (n == 3 && strcmp (f[2], "0x0") != 0 && inet_pton (AF_INET, f[0], bin) == 1)
        g_ptr_array_add (addresses, g_strdup (f[0]));
    }
}

/* Runs a tool under timeout(1); its stdout, or NULL. */
static char *
run_tool (const char *const *argv)
{
  g_autofree char *prog = g_find_program_in_path (argv[0]);
  g_autofree char *timeout = g_find_program_in_path ("timeout");
  if (prog == NULL || timeout == NULL)
    return NULL;
  g_autoptr (GPtrArray) full = g_ptr_array_new ();
  g_ptr_array_add (full, timeout);
  g_ptr_array_add (full, (gpointer) TOOL_TIMEOUT);
  g_ptr_array_add (full, prog);
  for (guint i = 1; argv[i]; i++)
    g_ptr_array_add (full, (gpointer) argv[i]);
  g_ptr_array_add (full, NULL);
  char *out = NULL;
  if (!g_spawn_sync (NULL, (char **) full->pdata, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                     &out, NULL, NULL, NULL))
    return NULL;
  return out;
}

static void
reverse_lookup (GPtrArray *out, const char *addr)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  struct sockaddr_in *a4 = (struct sockaddr_in *) &ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &ss;
  if (inet_pton (AF_INET, addr, &a4->sin_addr) == 1)
    {
      a4->sin_family = AF_INET;
      len = sizeof *a4;
    }
  else if (inet_pton (AF_INET6, addr, &a6->sin6_addr) == 1)
    {
      a6->sin6_family = AF_INET6;
      len = sizeof *a6;
    }
  else
    return;
  char host[NI_MAXHOST];
  if (getnameinfo ((struct sockaddr *) &ss, len, host, sizeof host, NULL, 0, NI_NAMEREQD) == 0)
    add_pair (out, addr, host);
}

/* One scan, in a worker thread: pairs (address, name) flattened. */
static void
scan (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  char **seeds = data;
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *hosts = NULL, *arp = NULL;

  if (g_file_get_contents ("/etc/hosts", &hosts, NULL, NULL))
    sh_host_watch_parse_hosts (hosts, out);

  for (guint i = 0; seeds[i]; i++)
    {
      struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
      if (getaddrinfo (seeds[i], NULL, &hints, &res) != 0)
        continue;
      for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        {
          char text[INET6_ADDRSTRLEN];
          const void *a = ai->ai_family == AF_INET
                              ? (const void *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr
                              : (const void *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr;
          if (inet_ntop (ai->ai_family, a, text, sizeof text))
            add_pair (out, text, seeds[i]);
        }
      freeaddrinfo (res);
    }

  /* Neighbours, named by reverse DNS. */
  g_autoptr (GPtrArray) neigh = g_ptr_array_new_with_free_func (g_free);
  if (g_file_get_contents ("/proc/net/arp", &arp, NULL, NULL))
    sh_host_watch_parse_arp (arp, neigh);
  static const char *const ip6[] = { "ip", "-6", "neigh", NULL };
  g_autofree char *ip6_out = run_tool (ip6);
  if (ip6_out)
    {
      g_auto (GStrv) lines = g_strsplit (ip6_out, "\n", -1);
      for (guint i = 0; lines[i]; i++)
        if (!strstr (lines[i], "FAILED") && !strstr (lines[i], "INCOMPLETE") && lines[i][0])
          g_ptr_array_add (neigh, g_strndup (lines[i], strcspn (lines[i], " ")));
    }
  for (guint i = 0; i < neigh->len && !g_cancellable_is_cancelled (cancellable); i++)
    reverse_lookup (out, g_ptr_array_index (neigh, i));

  /* mDNS: "=;iface;proto;name;type;domain;hostname;address;port;txt". */
  static const char *const avahi[] = { "avahi-browse", "-atrp", NULL };
  g_autofree char *av = run_tool (avahi);
  if (av)
    {
      g_auto (GStrv) lines = g_strsplit (av, "\n", -1);
      for (guint i = 0; lines[i]; i++)
        {
          g_auto (GStrv) f = g_strsplit (lines[i], ";", 10);
          if (g_strv_length (f) >= 8 && strcmp (f[0], "=") == 0)
            add_pair (out, f[7], f[6]);
        }
    }
  g_task_return_pointer (task, out, (GDestroyNotify) g_ptr_array_unref);
}

static void start_scan (ShHostWatch *w);

static gboolean
on_rescan (gpointer data)
{
  ShHostWatch *w = data;
  w->timer = 0;
  start_scan (w);
  return G_SOURCE_REMOVE;
}

static void
scan_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Link *link = data;
  g_autoptr (GPtrArray) pairs = g_task_propagate_pointer (G_TASK (res), NULL);
  ShHostWatch *w = link->watch;
  g_free (link);
  if (w == NULL)
    return; /* the session is gone */
  w->link = NULL;
  for (guint i = 0; pairs && i + 1 < pairs->len; i += 2)
    {
      const char *addr = g_ptr_array_index (pairs, i), *name = g_ptr_array_index (pairs, i + 1);
      char *key = g_strdup_printf ("%s %s", addr, name);
      if (g_hash_table_size (w->sent) >= MAX_PAIRS || g_hash_table_contains (w->sent, key))
        {
          g_free (key);
          continue;
        }
      g_hash_table_add (w->sent, key);
      ShHost h = { .name = name, .name_len = (guint16) strlen (name) };
      h.family = inet_pton (AF_INET, addr, h.addr) == 1 ? AF_INET : AF_INET6;
      if (h.family == AF_INET6)
        inet_pton (AF_INET6, addr, h.addr);
      sh_session_send_host (w->session, &h);
    }
  w->timer = g_timeout_add_seconds (RESCAN_S, on_rescan, w);
}

static void
start_scan (ShHostWatch *w)
{
  w->link = g_new0 (Link, 1);
  w->link->watch = w;
  GTask *task = g_task_new (NULL, NULL, scan_done, w->link);
  g_task_set_task_data (task, g_strdupv (w->seeds), (GDestroyNotify) g_strfreev);
  g_task_run_in_thread (task, scan);
  g_object_unref (task);
}

ShHostWatch *
sh_host_watch_new (ShSession *session, const char *seeds, gsize len)
{
  ShHostWatch *w = g_new0 (ShHostWatch, 1);
  w->session = session;
  w->sent = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *text = g_strndup (seeds ? seeds : "", len);
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  for (guint i = 0; parts[i]; i++)
    {
      /* A seed that is no valid name is skipped, not an error. */
      char *one = g_strstrip (parts[i]);
      if (one[0] != '\0' && sh_hostname_is_valid (one, strlen (one)))
        g_strv_builder_add (b, one);
    }
  w->seeds = g_strv_builder_end (b);
  start_scan (w);
  return w;
}

void
sh_host_watch_free (ShHostWatch *w)
{
  if (w == NULL)
    return;
  if (w->link)
    w->link->watch = NULL; /* the scan's result is dropped when it comes */
  g_clear_handle_id (&w->timer, g_source_remove);
  g_hash_table_destroy (w->sent);
  g_strfreev (w->seeds);
  g_free (w);
}
