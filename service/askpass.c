/* SPDX-License-Identifier: GPL-2.0-or-later */
/* askpass.c — the engine's side and the program's side of askpass.h. */
#include "config.h"

#include "askpass.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "log.h"

#define SECRET_MAX 1024
#define PROMPT_MAX 1024
/* ssh asks once per login (the service sets NumberOfPasswordPrompts=1);
 * a retry with the uploaded agent is a second login. */
#define ANSWERS_MAX 4
#define SOCKET_ENV "SHUTTLE_ASKPASS_SOCKET"

struct _ShAskpass
{
  char *secret;
  gsize secret_len;
  char *dir;
  char *sock_path;
  char *link_path;
  GSocketService *service;
  guint answers;
};

static void
wipe (char *p, gsize n)
{
  if (p != NULL)
    explicit_bzero (p, n);
}

/* Which prompts get the secret: a password or a key's passphrase, nothing
 * else (a host-key question never reaches us: checking is strict). */
static gboolean
prompt_wants_secret (const char *prompt)
{
  g_autofree char *low = g_ascii_strdown (prompt, -1);
  return strstr (low, "password") != NULL || strstr (low, "passphrase") != NULL;
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  ShAskpass *a = data;
  GSocket *sock = g_socket_connection_get_socket (conn);
  g_autoptr (GCredentials) cred = g_socket_get_credentials (sock, NULL);
  char prompt[PROMPT_MAX + 1];
  gsize got = 0;

  if (cred == NULL || g_credentials_get_unix_user (cred, NULL) != getuid ())
    {
      sh_error ("askpass: refused a caller of another user");
      return TRUE;
    }
  /* The program sends its prompt at once; a stuck caller cannot hold us. */
  g_socket_set_blocking (sock, TRUE);
  g_socket_set_timeout (sock, 2);
  while (got < PROMPT_MAX)
    {
      gssize n = g_socket_receive (sock, prompt + got, PROMPT_MAX - got, NULL, NULL);
      if (n <= 0)
        break;
      got += n;
      if (memchr (prompt, '\n', got) != NULL)
        break;
    }
  prompt[got] = '\0';
  if (!prompt_wants_secret (prompt))
    {
      sh_error ("askpass: ssh asked something other than a password or passphrase; not answered");
      return TRUE;
    }
  if (a->answers >= ANSWERS_MAX)
    {
      sh_error ("askpass: the password was already given %d times; not answered again",
                ANSWERS_MAX);
      return TRUE;
    }
  a->answers++;
  sh_info ("askpass: answering ssh's prompt");
  g_socket_send (sock, a->secret, a->secret_len, NULL, NULL);
  return TRUE;
}

static gboolean
read_secret (ShAskpass *a, int fd, GError **error)
{
  a->secret = g_malloc0 (SECRET_MAX + 1);
  while (a->secret_len < SECRET_MAX)
    {
      ssize_t n = read (fd, a->secret + a->secret_len, SECRET_MAX - a->secret_len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          close (fd);
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot read the secret: %s",
                       g_strerror (e));
          return FALSE;
        }
      if (n == 0)
        break;
      a->secret_len += n;
    }
  close (fd);
  /* ssh reads the askpass answer up to a newline: one cannot be in it. */
  if (memchr (a->secret, '\n', a->secret_len) != NULL || a->secret_len == SECRET_MAX)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "the secret is too long or contains a newline");
      return FALSE;
    }
  return TRUE;
}

ShAskpass *
sh_askpass_new (int fd, GError **error)
{
  g_autoptr (ShAskpass) a = g_new0 (ShAskpass, 1);
  g_autoptr (GSocketAddress) addr = NULL;
  g_autofree char *self = NULL;

  if (!read_secret (a, fd, error))
    return NULL;
  /* 0700, ours: only this user can reach the socket at all. */
  a->dir = g_dir_make_tmp ("shuttle-askpass-XXXXXX", error);
  if (a->dir == NULL)
    return NULL;
  a->sock_path = g_build_filename (a->dir, "socket", NULL);
  a->link_path = g_build_filename (a->dir, "shuttle-askpass", NULL);
  self = g_file_read_link ("/proc/self/exe", error);
  if (self == NULL)
    return NULL;
  if (symlink (self, a->link_path) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot create %s: %s",
                   a->link_path, g_strerror (errno));
      return NULL;
    }
  a->service = g_socket_service_new ();
  addr = g_unix_socket_address_new (a->sock_path);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (a->service), addr, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, error))
    return NULL;
  g_signal_connect (a->service, "incoming", G_CALLBACK (on_incoming), a);
  g_socket_service_start (a->service);

  g_setenv ("SSH_ASKPASS", a->link_path, TRUE);
  g_setenv ("SSH_ASKPASS_REQUIRE", "force", TRUE);
  g_setenv (SOCKET_ENV, a->sock_path, TRUE);
  return g_steal_pointer (&a);
}

void
sh_askpass_free (ShAskpass *a)
{
  if (a == NULL)
    return;
  if (a->service != NULL)
    {
      g_socket_service_stop (a->service);
      g_socket_listener_close (G_SOCKET_LISTENER (a->service));
      g_object_unref (a->service);
    }
  wipe (a->secret, SECRET_MAX + 1);
  g_free (a->secret);
  if (a->sock_path)
    g_unlink (a->sock_path);
  if (a->link_path)
    g_unlink (a->link_path);
  if (a->dir)
    g_rmdir (a->dir);
  g_free (a->sock_path);
  g_free (a->link_path);
  g_free (a->dir);
  g_free (a);
}

int
sh_askpass_main (int argc, char **argv)
{
  const char *path = g_getenv (SOCKET_ENV);
  const char *prompt = argc > 1 ? argv[1] : "";
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  struct ucred peer;
  socklen_t plen = sizeof peer;
  char buf[SECRET_MAX + 1];
  size_t got = 0;
  int fd;

  if (path == NULL || strlen (path) >= sizeof sa.sun_path)
    {
      fprintf (stderr, "shuttle-askpass: not started by shuttle (no " SOCKET_ENV ")\n");
      return 1;
    }
  strcpy (sa.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      fprintf (stderr, "shuttle-askpass: cannot reach the engine: %s\n", g_strerror (errno));
      return 1;
    }
  /* Answer only from our own user's engine. */
  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen) < 0 || peer.uid != getuid ())
    {
      fprintf (stderr, "shuttle-askpass: the socket belongs to another user\n");
      return 1;
    }
  if (write (fd, prompt, strnlen (prompt, PROMPT_MAX - 1)) < 0 || write (fd, "\n", 1) < 0)
    return 1;
  shutdown (fd, SHUT_WR);
  for (;;)
    {
      ssize_t n = read (fd, buf + got, SECRET_MAX - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += n;
    }
  close (fd);
  if (got == 0)
    return 1;
  buf[got++] = '\n';
  fwrite (buf, 1, got, stdout);
  fflush (stdout);
  explicit_bzero (buf, sizeof buf);
  return 0;
}
