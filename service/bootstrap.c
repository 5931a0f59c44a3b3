/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "bootstrap.h"

#include <gio/gio.h>

#include "agent-resource.h"

/* The stage-1 loader, given to `python -c`. It travels through two shells
 * (the remote login shell, then /bin/sh in double quotes), so it contains no
 * quote, '$', '`', '\\' or newline. It announces itself with
 * SH_MUX_LOAD_REQUEST ("\0SHLOAD1"), reads the u32 length and the compressed
 * agent, and runs it in __main__ under the file name that follows -c, so
 * tracebacks name shuttle-agent.py and its lines (the agent hands its own
 * source, shuttle_src, to linecache). The client sends nothing else until
 * the agent's HELLO, so the buffered stdin holds nothing the agent misses.
 * Python 2 or < 3.6 exits with SH_BOOTSTRAP_OLD_PYTHON before any of it. */
#define STAGE1                                                                                     \
  "import sys,os,zlib;"                                                                            \
  "sys.version_info<(3,6) and os._exit(98);"                                                       \
  "a=sys.argv;"                                                                                    \
  "os.write(1,bytes((0,83,72,76,79,65,68,49)));"                                                   \
  "f=sys.stdin.buffer;"                                                                            \
  "h=f.read(4);"                                                                                   \
  "shuttle_src=zlib.decompress(f.read(h[0]<<24|h[1]<<16|h[2]<<8|h[3]));"                           \
  "sys.argv=a[1:2]+a[3:];"                                                                         \
  "exec(compile(shuttle_src,a[1],a[2]))"

/* After -c STAGE1: the file name, compile()'s mode, then the agent's own
 * arguments. */
#define STAGE1_ARGS "shuttle-agent.py exec"

G_STATIC_ASSERT (SH_BOOTSTRAP_OLD_PYTHON == 98);

ShServerChoice
sh_bootstrap_choice (const ShOptions *opts)
{
  if (opts->server_cmd)
    return SH_SERVER_CMD;
  if (opts->python)
    return SH_SERVER_AGENT;
  return SH_SERVER_AUTO;
}

static void
append_verbose (GString *s, int verbose)
{
  for (int i = 1; i < verbose; i++)
    g_string_append (s, " -v");
}

/* "exec PYTHON -c "STAGE1" shuttle-agent.py exec -v" for /bin/sh. */
static void
append_agent_exec (GString *s, const char *python, int verbose)
{
  g_string_append_printf (s, "exec %s -c \"" STAGE1 "\" " STAGE1_ARGS, python);
  append_verbose (s, verbose);
}

char *
sh_bootstrap_remote_command (const ShOptions *opts, ShServerChoice choice)
{
  GString *sh = g_string_new (NULL);

  if (choice == SH_SERVER_CMD)
    {
      /* The user's command, as written: it may rely on their shell. */
      g_string_append (sh, opts->server_cmd);
      append_verbose (sh, opts->verbose);
      return g_string_free (sh, FALSE);
    }

  if (choice == SH_SERVER_AUTO)
    {
      g_string_append (sh, "if command -v shuttle-server >/dev/null 2>&1; then "
                           "exec shuttle-server");
      append_verbose (sh, opts->verbose);
      g_string_append (sh, "; fi; ");
    }
  if (opts->python)
    {
      /* options.c allows only [A-Za-z0-9/._+-] here. */
      g_string_append_printf (sh, "if command -v %s >/dev/null 2>&1; then ", opts->python);
      append_agent_exec (sh, opts->python, opts->verbose);
      g_string_append_printf (sh, "; fi; exit %d", SH_BOOTSTRAP_NO_PYTHON);
    }
  else
    {
      g_string_append (sh, "for p in python3 python; do "
                           "if command -v $p >/dev/null 2>&1; then ");
      append_agent_exec (sh, "$p", opts->verbose);
      g_string_append_printf (sh, "; fi; done; exit %d", SH_BOOTSTRAP_NO_SERVER);
    }

  /* The login shell may be csh or fish: hand the script to /bin/sh. It has
   * no single quote, so quoting it is the same in every shell. */
  g_assert (strchr (sh->str, '\'') == NULL);
  char *cmd = g_strdup_printf ("exec /bin/sh -c '%s'", sh->str);
  g_string_free (sh, TRUE);
  return cmd;
}

GStrv
sh_bootstrap_local_argv (const ShOptions *opts, ShServerChoice choice, const char *self)
{
  GStrvBuilder *b = g_strv_builder_new ();
  if (choice == SH_SERVER_AGENT)
    {
      g_strv_builder_add_many (b, opts->python ? opts->python : "python3", "-c", STAGE1, NULL);
      g_auto (GStrv) rest = g_strsplit (STAGE1_ARGS, " ", -1);
      g_strv_builder_addv (b, (const char **) rest);
    }
  else
    g_strv_builder_add_many (b, self, "--server", NULL);
  for (int i = 1; i < opts->verbose; i++)
    g_strv_builder_add (b, "-v");
  GStrv argv = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return argv;
}

GBytes *
sh_bootstrap_agent_payload (void)
{
  /* Compressed at build time (service/meson.build): nothing to do here but
   * put the length in front. */
  g_autoptr (GBytes) z = g_resource_lookup_data (sh_agent_get_resource (),
                                                 "/io/github/shuttlevpn/agent/shuttle-agent.py.z",
                                                 G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  g_assert (z != NULL); /* built in */
  gsize n;
  const guint8 *data = g_bytes_get_data (z, &n);
  guint8 *out = g_malloc (4 + n);
  out[0] = n >> 24;
  out[1] = n >> 16;
  out[2] = n >> 8;
  out[3] = n;
  memcpy (out + 4, data, n);
  return g_bytes_new_take (out, 4 + n);
}

char *
sh_bootstrap_explain_exit (const ShOptions *opts, ShServerChoice choice, int status)
{
  switch (choice)
    {
    case SH_SERVER_CMD:
      if (status == 127)
        return g_strdup_printf ("the server has no '%s' on its PATH (exit status 127); install "
                                "shuttle there or name it with --server-cmd",
                                opts->server_cmd);
      return NULL;
    case SH_SERVER_AUTO:
    case SH_SERVER_AGENT:
      if (status == SH_BOOTSTRAP_NO_SERVER)
        return g_strdup (choice == SH_SERVER_AUTO
                             ? "the server has neither shuttle-server nor python3 on its PATH; "
                               "install python3 (3.6 or newer) there, or pass --python PATH"
                             : "the server has no python3 on its PATH; install python3 (3.6 or "
                               "newer) there, or pass --python PATH");
      if (status == SH_BOOTSTRAP_OLD_PYTHON)
        return g_strdup ("the server's python is older than 3.6, which the agent needs; name a "
                         "newer interpreter with --python PATH");
      if (status == SH_BOOTSTRAP_NO_PYTHON && opts->python)
        return g_strdup_printf ("the server has no '%s' (--python); name an interpreter it has",
                                opts->python);
      return NULL;
    }
  return NULL;
}
