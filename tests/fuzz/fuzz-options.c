/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-options.c — the command line (service/options.c) on arbitrary bytes.
 *
 * Input: argv words separated by NUL bytes; an empty word (two NULs in a
 * row) ends argv, then the text of argument file "a", a NUL, and the text
 * of file "b" (the rest, NULs included: the parser must refuse those). The
 * words may name the files: "@a", "-X b", "--exclude-from=a", and the files
 * each other. Nothing else is ever opened: fopen() is wrapped (the build
 * links with --wrap=fopen), and so is getaddrinfo(), which resolves only
 * numeric hosts and the made-up names "*.test", so no input waits for DNS.
 * --help and --version exit the process; inputs that could reach them are
 * skipped.
 *
 * Besides not crashing: a refusal is one line; an accepted command line
 * holds only what the parser promises (subnets well-formed, ports and
 * counts in range). */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "options.h"
#include "subnet.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

FILE *__real_fopen (const char *path, const char *mode);
FILE *__wrap_fopen (const char *path, const char *mode);
int __real_getaddrinfo (const char *node, const char *service, const struct addrinfo *hints,
                        struct addrinfo **res);
int __wrap_getaddrinfo (const char *node, const char *service, const struct addrinfo *hints,
                        struct addrinfo **res);

/* The two argument files of the current input. */
static const char *file_text[2];
static gsize file_len[2];

FILE *
__wrap_fopen (const char *path, const char *mode)
{
  for (int i = 0; i < 2; i++)
    if (strcmp (path, i == 0 ? "a" : "b") == 0)
      {
        /* fmemopen() of an empty buffer is fine since glibc 2.22. */
        static const char empty[1];
        return fmemopen ((void *) (file_len[i] > 0 ? file_text[i] : empty), file_len[i], "r");
      }
  errno = ENOENT;
  return NULL;
}

int
__wrap_getaddrinfo (const char *node, const char *service, const struct addrinfo *hints,
                    struct addrinfo **res)
{
  struct addrinfo h = { 0 };

  if (hints != NULL)
    h = *hints;
  if (node != NULL && !(h.ai_flags & AI_NUMERICHOST))
    {
      if (!g_str_has_suffix (node, ".test"))
        return EAI_NONAME;
      /* "v6.test" and "*.v6.test" have an IPv6 address, other names IPv4. */
      node = g_str_has_suffix (node, "v6.test") ? "2001:db8::7" : "192.0.2.7";
      h.ai_flags |= AI_NUMERICHOST;
    }
  return __real_getaddrinfo (node, service, &h, res);
}

/* TRUE when @word could be --help, --version, -h or -V (also inside a
 * cluster such as "-vh"; over-cautious on purpose). */
static gboolean
could_exit (const char *word, gsize len)
{
  if (len < 2 || word[0] != '-')
    return FALSE;
  if (word[1] == '-')
    return (len >= 6 && memcmp (word, "--help", 6) == 0)
           || (len >= 9 && memcmp (word, "--version", 9) == 0);
  return memchr (word, 'h', len) != NULL || memchr (word, 'V', len) != NULL;
}

/* The first word of each line of an argument file, as the parser trims it. */
static gboolean
file_could_exit (const char *text, gsize len)
{
  const char *p = text, *end = text + len;

  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      const char *e = nl != NULL ? nl : end;

      while (p < e && g_ascii_isspace (*p))
        p++;
      const char *w = p;
      while (p < e && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\0')
        p++;
      if (could_exit (w, (gsize) (p - w)))
        return TRUE;
      p = e + 1;
    }
  return FALSE;
}

static void
check_subnets (GArray *a)
{
  for (guint i = 0; i < a->len; i++)
    {
      const ShSubnet *s = &g_array_index (a, ShSubnet, i);

      if ((s->family != AF_INET && s->family != AF_INET6)
          || s->prefix > (s->family == AF_INET ? 32 : 128) || s->port_lo > s->port_hi
          || (s->port_lo == 0) != (s->port_hi == 0))
        abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  const char *p = (const char *) data, *end = p + size;
  ShOptions opts;

  if (size > 64 * 1024)
    return 0;

  /* A copy with a NUL after it, so each word is a C string. */
  g_autofree char *copy = g_malloc (size + 1);
  memcpy (copy, data, size);
  copy[size] = '\0';
  p = copy;
  end = copy + size;

  g_ptr_array_add (argv, (gpointer) "shuttle");
  while (p < end)
    {
      gsize len = strlen (p);

      if (len == 0)
        {
          p++;
          break;
        }
      if (could_exit (p, len) || argv->len > 256)
        return 0;
      g_ptr_array_add (argv, (gpointer) p);
      p += len + 1;
    }
  g_ptr_array_add (argv, NULL);

  file_text[0] = p < end ? p : "";
  file_len[0] = p < end ? strlen (p) : 0;
  p += file_len[0] + 1;
  file_text[1] = p < end ? p : "";
  file_len[1] = p < end ? (gsize) (end - p) : 0;
  for (int i = 0; i < 2; i++)
    if (file_could_exit (file_text[i], file_len[i]))
      return 0;

  if (!sh_options_parse (&opts, (int) argv->len - 1, (char **) argv->pdata, &error))
    {
      /* One line that names the problem; nothing left to free. */
      if (error == NULL || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT)
          || error->message[0] == '\0' || strchr (error->message, '\n') != NULL)
        abort ();
      if (opts.subnets != NULL || opts.ssh_cmd != NULL || opts.remote != NULL)
        abort ();
      sh_options_clear (&opts);
      return 0;
    }
  if (error != NULL)
    abort ();

  check_subnets (opts.subnets);
  check_subnets (opts.excludes);
  if (opts.mode == SH_MODE_CLIENT && opts.subnets->len == 0 && !opts.auto_nets && !opts.socks)
    abort ();
  /* --socks always has a port; shuttle run always a command, and no --dns. */
  if (opts.socks && opts.socks_port == 0)
    abort ();
  if (opts.run_argv != NULL && (opts.run_argv[0] == NULL || opts.dns))
    abort ();
  if (opts.ns_hosts->len > SH_OPTIONS_MAX_NS || opts.ssh_cmd == NULL)
    abort ();
  if (opts.remote != NULL && (opts.remote_host == NULL || opts.remote_host[0] == '\0'))
    abort ();
  if (opts.daemon && opts.pidfile == NULL)
    abort ();
  if (opts.connect_timeout_ms == 0)
    abort ();
  sh_options_clear (&opts);
  return 0;
}
