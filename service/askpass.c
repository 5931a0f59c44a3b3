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
#include "shuttle-dbus.h"

#define SECRET_MAX 1024
#define PROMPT_MAX 1024
/* ssh asks once per login (the service sets NumberOfPasswordPrompts=1);
 * a retry with the uploaded agent is a second login. */
#define ANSWERS_MAX 4
#define SOCKET_ENV "SHUTTLE_ASKPASS_SOCKET"
/* How long a question may wait for the user (sshd's LoginGraceTime is 120 s
 * by default: the server gives up first). */
#define ASK_TIMEOUT_MS (180 * 1000)

struct _ShAskpass
{
  char *secret;
  gsize secret_len;
  char *dir;
  char *sock_path;
  char *link_path;
  GSocketService *service;
  guint answers;
  GDBusConnection *peer; /* who asks the user (Prompt1), or NULL */
  GCancellable *cancel;
};

/* The one askpass of this process: ssh's prompts come to it, and the
 * engine's control connection, made later (client.c), is where it asks. */
static ShAskpass *current;

static void
wipe (char *p, gsize n)
{
  if (p != NULL)
    explicit_bzero (p, n);
}

/* Skips "(user@host) ", which ssh (8.4 and later) puts before every
 * keyboard-interactive prompt; the rest is the server's. */
static const char *
server_words (const char *prompt)
{
  const char *close;

  if (prompt[0] != '(' || (close = strstr (prompt, ") ")) == NULL)
    return prompt;
  for (const char *p = prompt + 1; p < close; p++)
    if (*p == ' ' || *p == '(')
      return prompt;
  return memchr (prompt, '@', close - prompt) != NULL ? close + 2 : prompt;
}

gboolean
sh_askpass_prompt_takes_secret (const char *prompt)
{
  g_autofree char *low = g_strstrip (g_ascii_strdown (server_words (prompt), -1));
  gsize n = strlen (low);
  const char *tail = "'s password:";

  /* PAM's pam_unix (keyboard-interactive) and most PAM password modules. */
  if (g_str_equal (low, "password:"))
    return TRUE;
  /* ssh's own, method password: "user@host's password: ". */
  if (n > strlen (tail) && g_str_has_suffix (low, tail) && strchr (low, ' ') == strrchr (low, ' ')
      && memchr (low, '@', n - strlen (tail)) != NULL)
    return TRUE;
  /* ssh's "Enter passphrase for key '...': " (an encrypted key). */
  return g_str_has_prefix (low, "enter passphrase for ") && g_str_has_suffix (low, ":");
}

static void
send_answer (GSocketConnection *conn, const char *answer, gsize len)
{
  /* ssh reads the askpass answer up to a newline: none can be in it. */
  if (memchr (answer, '\n', len) != NULL)
    {
      sh_error ("askpass: the answer holds a newline; not given");
      return;
    }
  g_socket_send (g_socket_connection_get_socket (conn), answer, len, NULL, NULL);
}

static void
on_asked (GObject *src, GAsyncResult *res, gpointer data)
{
  g_autoptr (GSocketConnection) conn = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (src), res, &error);
  const char *answer = NULL;

  if (reply == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_dbus_error_strip_remote_error (error);
          sh_error ("askpass: the server's question was not answered: %s", error->message);
        }
      return;
    }
  g_variant_get (reply, "(&s)", &answer);
  sh_info ("askpass: answering the server's question with what the user typed");
  send_answer (conn, answer, strlen (answer));
  explicit_bzero ((char *) answer, strlen (answer));
  g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  ShAskpass *a = data;
  GSocket *sock = g_socket_connection_get_socket (conn);
  g_autoptr (GCredentials) cred = g_socket_get_credentials (sock, NULL);
  char prompt[PROMPT_MAX + 1];
  gsize got = 0;
  char *nl;

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
  if ((nl = strchr (prompt, '\n')) != NULL)
    *nl = '\0';
  if (a->secret_len > 0 && sh_askpass_prompt_takes_secret (prompt))
    {
      if (a->answers >= ANSWERS_MAX)
        {
          sh_error ("askpass: the password was already given %d times; not answered again",
                    ANSWERS_MAX);
          return TRUE;
        }
      a->answers++;
      sh_info ("askpass: answering ssh's prompt");
      send_answer (conn, a->secret, a->secret_len);
      return TRUE;
    }
  if (a->peer == NULL)
    {
      sh_error ("askpass: ssh asked something other than a password or passphrase, and nobody "
                "can be asked; not answered");
      return TRUE;
    }
  /* A one-time code, or any other question of the server: never the stored
   * secret, always the user, through whoever started us. */
  sh_info ("askpass: the server asks a question; asking the user");
  /* The server's bytes: D-Bus carries UTF-8 only. */
  g_autofree char *text = g_utf8_make_valid (prompt, -1);
  g_dbus_connection_call (a->peer, NULL, SH_PROMPT_PATH, SH_PROMPT_IFACE, "Ask",
                          g_variant_new ("(s)", text), G_VARIANT_TYPE ("(s)"),
                          G_DBUS_CALL_FLAGS_NONE, ASK_TIMEOUT_MS, a->cancel, on_asked,
                          g_object_ref (conn));
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

  a->cancel = g_cancellable_new ();
  current = a;
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
  if (current == a)
    current = NULL;
  if (a->cancel != NULL)
    g_cancellable_cancel (a->cancel);
  g_clear_object (&a->cancel);
  g_clear_object (&a->peer);
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

void
sh_askpass_set_peer (GDBusConnection *peer)
{
  if (current == NULL)
    return;
  g_clear_object (&current->peer);
  current->peer = peer != NULL ? g_object_ref (peer) : NULL;
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

  /* ssh's yes/no questions ("confirm") and notices ("none") are not for
   * us: under NetworkManager host keys are checked strictly, and nothing
   * else should be confirmed on the user's behalf. */
  if (g_strcmp0 (g_getenv ("SSH_ASKPASS_PROMPT"), "confirm") == 0
      || g_strcmp0 (g_getenv ("SSH_ASKPASS_PROMPT"), "none") == 0)
    return 1;
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
