/* SPDX-License-Identifier: GPL-2.0-or-later */
/* How the server side starts: the remote command run by a real /bin/sh with
 * a PATH we control (what the server "has"), the stage-1 loader run by the
 * real python3, the embedded agent uploaded through it. No ssh here: the
 * end-to-end suite does the same through sshd. */
#include "config.h"

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bootstrap.h"
#include "mux.h"

static char *tmpdir;

typedef struct
{
  GSubprocess *p;
  int in_fd, out_fd, err_fd;
  GByteArray *out, *err;
} Remote;

/* Runs @cmd as a login shell would (/bin/sh -c) with PATH=@path only. */
static void
remote_start (Remote *r, const char *cmd, const char *path)
{
  g_autoptr (GSubprocessLauncher) l
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                   | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (l, "PATH", path, TRUE);
  g_autoptr (GError) error = NULL;
  r->p = g_subprocess_launcher_spawn (l, &error, "/bin/sh", "-c", cmd, NULL);
  g_assert_no_error (error);
  r->in_fd
      = g_unix_output_stream_get_fd (G_UNIX_OUTPUT_STREAM (g_subprocess_get_stdin_pipe (r->p)));
  r->out_fd
      = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (r->p)));
  r->err_fd
      = g_unix_input_stream_get_fd (G_UNIX_INPUT_STREAM (g_subprocess_get_stderr_pipe (r->p)));
  r->out = g_byte_array_new ();
  r->err = g_byte_array_new ();
}

/* Reads stdout and stderr until @done says so, both are closed, or 10 s. */
static void
remote_read (Remote *r, gboolean (*done) (GByteArray *out))
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  gboolean out_open = TRUE, err_open = TRUE;
  while ((out_open || err_open) && !(done && done (r->out)))
    {
      int left = (int) ((end - g_get_monotonic_time ()) / 1000);
      g_assert_cmpint (left, >, 0);
      struct pollfd p[2]
          = { { out_open ? r->out_fd : -1, POLLIN, 0 }, { err_open ? r->err_fd : -1, POLLIN, 0 } };
      if (poll (p, 2, left) <= 0)
        continue;
      for (int i = 0; i < 2; i++)
        {
          if (!p[i].revents)
            continue;
          guint8 buf[65536];
          ssize_t n = read (p[i].fd, buf, sizeof buf);
          if (n <= 0)
            *(i ? &err_open : &out_open) = FALSE;
          else
            g_byte_array_append (i ? r->err : r->out, buf, n);
        }
    }
}

static int
remote_wait (Remote *r)
{
  /* Through the stream that owns the descriptor: a plain close() here was
   * a double close when the GSubprocess was finalized later (possibly on
   * GLib's worker thread), closing whatever reused the number meanwhile,
   * e.g. the next test's child pipe (CI saw EBADF in g_subprocess spawn). */
  g_output_stream_close (g_subprocess_get_stdin_pipe (r->p), NULL, NULL);
  r->in_fd = -1;
  remote_read (r, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_true (g_subprocess_wait (r->p, NULL, &error));
  g_assert_true (g_subprocess_get_if_exited (r->p));
  return g_subprocess_get_exit_status (r->p);
}

static void
remote_clear (Remote *r)
{
  g_clear_object (&r->p);
  g_byte_array_unref (r->out);
  g_byte_array_unref (r->err);
}

static const char *
err_text (Remote *r)
{
  g_byte_array_append (r->err, (const guint8 *) "", 1);
  r->err->len--;
  return (const char *) r->err->data;
}

/* A directory standing for the server's PATH, with the given programs:
 * "python3" is the real interpreter, anything else a script. */
static char *
make_path (const char *name, ...)
{
  static int n;
  char *dir = g_strdup_printf ("%s/path%d", tmpdir, n++);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  va_list ap;
  va_start (ap, name);
  for (; name; name = va_arg (ap, const char *))
    {
      const char *script = va_arg (ap, const char *);
      g_autofree char *f = g_build_filename (dir, name, NULL);
      if (!script)
        g_assert_cmpint (symlink ("/usr/bin/python3", f), ==, 0);
      else
        {
          g_assert_true (g_file_set_contents (f, script, -1, NULL));
          g_assert_cmpint (chmod (f, 0755), ==, 0);
        }
    }
  va_end (ap);
  return dir;
}

static ShOptions *
options (const char *python, const char *server_cmd, int verbose)
{
  static ShOptions o;
  memset (&o, 0, sizeof o);
  o.python = (char *) python;
  o.server_cmd = (char *) server_cmd;
  o.verbose = verbose;
  return &o;
}

static gboolean
has_load_request (GByteArray *out)
{
  return sh_frame_find_load_request (out->data, out->len) >= 0;
}

static gboolean
has_hello (GByteArray *out)
{
  gssize at = sh_frame_find_hello (out->data, out->len);
  ShFrame f;
  return at >= 0 && sh_frame_decode (out->data + at, out->len - at, &f) > 0;
}

static void
test_payload (void)
{
  g_autoptr (GBytes) payload = sh_bootstrap_agent_payload ();
  gsize n;
  const guint8 *p = g_bytes_get_data (payload, &n);
  g_assert_cmpuint (n, >, 4);
  g_assert_cmpuint (((gsize) p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]), ==, n - 4);

  /* It is the agent in the tree, byte for byte. */
  g_autoptr (GConverter) z = G_CONVERTER (g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB));
  g_autoptr (GInputStream) raw = g_memory_input_stream_new_from_data (p + 4, n - 4, NULL);
  g_autoptr (GInputStream) in = g_converter_input_stream_new (raw, z);
  g_autoptr (GOutputStream) mem = g_memory_output_stream_new_resizable ();
  g_autoptr (GError) error = NULL;
  g_output_stream_splice (mem, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "..", "service", "agent", "shuttle-agent.py", NULL);
  g_autofree char *src = NULL;
  gsize src_len;
  g_assert_true (g_file_get_contents (path, &src, &src_len, NULL));
  g_assert_cmpmem (g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (mem)),
                   g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (mem)), src,
                   src_len);
}

/* The script passes through the login shell in single quotes: it must hold
 * none, and the loader none of what /bin/sh interprets in double quotes. */
static void
test_quoting (void)
{
  ShServerChoice choices[] = { SH_SERVER_AUTO, SH_SERVER_AGENT, SH_SERVER_AGENT };
  const char *pythons[] = { NULL, NULL, "/opt/py/bin/python3.12" };
  for (guint i = 0; i < G_N_ELEMENTS (choices); i++)
    {
      g_autofree char *cmd
          = sh_bootstrap_remote_command (options (pythons[i], NULL, 3), choices[i]);
      g_assert_true (g_str_has_prefix (cmd, "exec /bin/sh -c '"));
      g_assert_true (g_str_has_suffix (cmd, "'"));
      int quotes = 0;
      for (const char *c = cmd; *c; c++)
        quotes += *c == '\'';
      g_assert_cmpint (quotes, ==, 2);
      const char *loader = strstr (cmd, " -c \"");
      g_assert_nonnull (loader);
      loader += 5;
      const char *end = strchr (loader, '"');
      g_assert_nonnull (end);
      g_assert_true (g_str_has_prefix (end, "\" shuttle-agent.py exec -v -v"));
      for (const char *c = loader; c < end; c++)
        g_assert_null (strchr ("$`\\\n'", *c));
    }
  g_autofree char *cmd
      = sh_bootstrap_remote_command (options (NULL, "my-server --x", 2), SH_SERVER_CMD);
  g_assert_cmpstr (cmd, ==, "my-server --x -v");
}

static void
test_nothing_there (void)
{
  g_autofree char *path = make_path (NULL);
  g_autofree char *cmd = sh_bootstrap_remote_command (options (NULL, NULL, 1), SH_SERVER_AUTO);
  Remote r;
  remote_start (&r, cmd, path);
  g_assert_cmpint (remote_wait (&r), ==, SH_BOOTSTRAP_NO_SERVER);
  g_assert_cmpuint (r.out->len, ==, 0);
  g_autofree char *why
      = sh_bootstrap_explain_exit (options (NULL, NULL, 1), SH_SERVER_AUTO, SH_BOOTSTRAP_NO_SERVER);
  g_assert_cmpstr (why, ==,
                   "the server has neither shuttle-server nor python3 on its PATH; install "
                   "python3 (3.6 or newer) there, or pass --python PATH");
  remote_clear (&r);
}

static void
test_prefers_shuttle_server (void)
{
  g_autofree char *path
      = make_path ("shuttle-server", "#!/bin/sh\necho \"c server $*\"\n", "python3", NULL, NULL);
  g_autofree char *cmd = sh_bootstrap_remote_command (options (NULL, NULL, 2), SH_SERVER_AUTO);
  Remote r;
  remote_start (&r, cmd, path);
  g_assert_cmpint (remote_wait (&r), ==, 0);
  g_byte_array_append (r.out, (const guint8 *) "", 1);
  g_assert_cmpstr ((char *) r.out->data, ==, "c server -v\n");
  remote_clear (&r);
}

/* The real thing: python3 runs the loader, asks, gets the agent, and the
 * agent answers with its HELLO. */
static void
test_uploads_agent (void)
{
  g_autofree char *path = make_path ("python3", NULL, NULL);
  g_autofree char *cmd = sh_bootstrap_remote_command (options (NULL, NULL, 1), SH_SERVER_AUTO);
  Remote r;
  remote_start (&r, cmd, path);
  remote_read (&r, has_load_request);
  g_assert_cmpint (sh_frame_find_load_request (r.out->data, r.out->len), ==, 0);
  g_byte_array_set_size (r.out, 0);

  g_autoptr (GBytes) payload = sh_bootstrap_agent_payload ();
  gsize n;
  const guint8 *p = g_bytes_get_data (payload, &n);
  g_assert_cmpint (write (r.in_fd, p, n), ==, (gssize) n);
  remote_read (&r, has_hello);
  g_assert_true (has_hello (r.out));
  ShFrame f;
  g_assert_cmpint (sh_frame_decode (r.out->data, r.out->len, &f), >, 0);
  g_assert_cmpint (f.type, ==, SH_FRAME_HELLO);
  g_assert_true (g_str_has_prefix (f.u.hello.name, "shuttle-agent"));
  g_assert_cmpuint (f.u.hello.version_min, <=, SH_MUX_VERSION);
  g_assert_cmpuint (f.u.hello.version_max, >=, SH_MUX_VERSION);

  /* The client goes away: the agent exits by itself, no traceback. */
  int status = remote_wait (&r);
  g_assert_cmpint (status, <=, 1);
  g_assert_null (strstr (err_text (&r), "Traceback"));
  remote_clear (&r);
}

static void
test_old_python (void)
{
  /* A python3 that says it is 3.5 (there is none here to run for real). */
  g_autofree char *path = make_path (
      "python3",
      "#!/bin/sh\nshift\nexec /usr/bin/python3 -c 'import sys; sys.version_info = (3, 5, 2); "
      "code = sys.argv[1]; sys.argv = [\"-c\"] + sys.argv[2:]; exec(code)' \"$@\"\n",
      NULL);
  g_autofree char *cmd = sh_bootstrap_remote_command (options (NULL, NULL, 1), SH_SERVER_AUTO);
  Remote r;
  remote_start (&r, cmd, path);
  g_assert_cmpint (remote_wait (&r), ==, SH_BOOTSTRAP_OLD_PYTHON);
  g_assert_false (has_load_request (r.out));
  remote_clear (&r);
}

static void
test_python_option (void)
{
  g_autofree char *path = make_path ("python3", NULL, NULL);
  ShOptions *o = options ("/nonexistent/python3.12", NULL, 1);
  g_autofree char *cmd = sh_bootstrap_remote_command (o, SH_SERVER_AGENT);
  Remote r;
  remote_start (&r, cmd, path);
  g_assert_cmpint (remote_wait (&r), ==, SH_BOOTSTRAP_NO_PYTHON);
  g_autofree char *why = sh_bootstrap_explain_exit (o, SH_SERVER_AGENT, SH_BOOTSTRAP_NO_PYTHON);
  g_assert_cmpstr (why, ==,
                   "the server has no '/nonexistent/python3.12' (--python); name an interpreter "
                   "it has");
  remote_clear (&r);
}

/* A failure in the uploaded code names the agent's file and line. */
static void
test_traceback (void)
{
  g_autofree char *path = make_path ("python3", NULL, NULL);
  g_autofree char *cmd = sh_bootstrap_remote_command (options (NULL, NULL, 1), SH_SERVER_AGENT);
  Remote r;
  remote_start (&r, cmd, path);
  remote_read (&r, has_load_request);
  g_assert_true (has_load_request (r.out));

  const char *src = "import sys\n\ndef f():\n    raise RuntimeError('boom')\n\nf()\n";
  g_autoptr (GConverter) z = G_CONVERTER (g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB, 9));
  guint8 zbuf[512];
  gsize used, written;
  g_assert_cmpint (g_converter_convert (z, src, strlen (src), zbuf, sizeof zbuf,
                                        G_CONVERTER_INPUT_AT_END, &used, &written, NULL),
                   ==, G_CONVERTER_FINISHED);
  guint8 len[4] = { written >> 24, written >> 16, written >> 8, written };
  g_assert_cmpint (write (r.in_fd, len, 4), ==, 4);
  g_assert_cmpint (write (r.in_fd, zbuf, written), ==, (gssize) written);
  g_assert_cmpint (remote_wait (&r), ==, 1);
  g_assert_nonnull (strstr (err_text (&r), "File \"shuttle-agent.py\", line 4, in f"));
  g_assert_nonnull (strstr (err_text (&r), "RuntimeError: boom"));
  remote_clear (&r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("test-bootstrap-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);

  g_test_add_func ("/bootstrap/payload", test_payload);
  g_test_add_func ("/bootstrap/quoting", test_quoting);
  g_test_add_func ("/bootstrap/nothing-there", test_nothing_there);
  g_test_add_func ("/bootstrap/prefers-shuttle-server", test_prefers_shuttle_server);
  g_test_add_func ("/bootstrap/uploads-agent", test_uploads_agent);
  g_test_add_func ("/bootstrap/old-python", test_old_python);
  g_test_add_func ("/bootstrap/python-option", test_python_option);
  g_test_add_func ("/bootstrap/traceback", test_traceback);
  int rc = g_test_run ();

  g_autofree char *rm = g_strdup_printf ("rm -rf '%s'", tmpdir);
  if (system (rm) != 0)
    rc = 1;
  return rc;
}
