/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for service/options.c. */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "options.h"
#include "subnet.h"

/* A scratch directory per test run for argument and exclude files. */
static char *tmpdir;

/* Parses "shuttle" followed by the NULL-terminated @args. */
static gboolean
parse (ShOptions *opts, GError **error, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const char *a;
  va_list ap;

  g_ptr_array_add (argv, (gpointer) "shuttle");
  va_start (ap, error);
  while ((a = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  return sh_options_parse (opts, (int) argv->len - 1, (char **) argv->pdata, error);
}

/* The error message of a parse that must fail. */
#define assert_parse_fails(expected, ...)                                                          \
  G_STMT_START                                                                                     \
  {                                                                                                \
    ShOptions o_;                                                                                  \
    g_autoptr (GError) e_ = NULL;                                                                  \
    g_assert_false (parse (&o_, &e_, __VA_ARGS__, NULL));                                          \
    g_assert_error (e_, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);                                  \
    g_assert_cmpstr (e_->message, ==, (expected));                                                 \
    g_assert_null (strchr (e_->message, '\n'));                                                    \
    /* A failed parse leaves nothing to free. */                                                   \
    g_assert_null (o_.subnets);                                                                    \
    g_assert_null (o_.ssh_cmd);                                                                    \
    sh_options_clear (&o_);                                                                        \
  }                                                                                                \
  G_STMT_END

static char *
write_file (const char *name, const char *contents)
{
  char *path = g_build_filename (tmpdir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, contents, -1, &error));
  g_assert_no_error (error);
  return path;
}

static char *
subnet_str (GArray *a, guint i)
{
  g_assert_cmpuint (i, <, a->len);
  return sh_subnet_to_string (&g_array_index (a, ShSubnet, i));
}

#define assert_subnet(array, i, expected)                                                          \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *s_ = subnet_str ((array), (i));                                               \
    g_assert_cmpstr (s_, ==, (expected));                                                          \
  }                                                                                                \
  G_STMT_END

static void
test_defaults (void)
{
  ShOptions o;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse (&o, &error, "10/8", NULL));
  g_assert_no_error (error);
  g_assert_cmpint (o.mode, ==, SH_MODE_CLIENT);
  g_assert_null (o.remote);
  g_assert_null (o.remote_user);
  g_assert_null (o.remote_host);
  g_assert_cmpuint (o.remote_port, ==, 0);
  g_assert_cmpuint (o.subnets->len, ==, 1);
  assert_subnet (o.subnets, 0, "10.0.0.0/8");
  g_assert_nonnull (o.excludes);
  g_assert_cmpuint (o.excludes->len, ==, 0);
  g_assert_cmpuint (g_array_get_element_size (o.excludes), ==, sizeof (ShSubnet));
  g_assert_null (o.listen_addr);
  g_assert_cmpuint (o.listen_port, ==, 0);
  g_assert_cmpstr (o.ssh_cmd, ==, "ssh");
  g_assert_null (o.server_cmd); /* automatic: shuttle-server, else the agent */
  g_assert_null (o.python);
  g_assert_cmpint (o.verbose, ==, 0);
  g_assert_true (o.latency_control);
  g_assert_false (o.daemon);
  g_assert_null (o.pidfile);
  g_assert_false (o.syslog);
  g_assert_cmpuint (o.connect_timeout_ms, ==, 10000);
  g_assert_false (o.reconnect); /* a lost session ends the engine */
  g_assert_false (o.fail_closed);
  sh_options_clear (&o);
}

static void
test_clear_twice (void)
{
  ShOptions o;

  g_assert_true (
      parse (&o, NULL, "-r", "a@b:22", "-l", "127.0.0.1:1", "-D", "10/8", "-x", "10.1/16", NULL));
  sh_options_clear (&o);
  g_assert_null (o.remote);
  g_assert_null (o.subnets);
  g_assert_null (o.pidfile);
  sh_options_clear (&o);
  sh_options_clear (NULL);
}

/* --dns, --ns-hosts, --to-ns, -N, -H, --seed-hosts. */
static void
test_names_and_routes (void)
{
  ShOptions o;
  char text[INET6_ADDRSTRLEN];

  g_assert_true (parse (&o, NULL, "10/8", NULL));
  g_assert_false (o.dns || o.auto_nets || o.auto_hosts || o.has_to_ns);
  g_assert_cmpuint (o.ns_hosts->len, ==, 0);
  g_assert_null (o.seed_hosts);
  sh_options_clear (&o);

  g_assert_true (parse (&o, NULL, "--dns", "--ns-hosts", "10.0.0.53, fd00::53",
                        "--ns-hosts=1.1.1.1", "--to-ns", "[fd00::1]:5353", "-NH", "--seed-hosts",
                        "a.example,b", "10/8", NULL));
  g_assert_true (o.dns && o.auto_nets && o.auto_hosts && o.has_to_ns);
  g_assert_cmpuint (o.ns_hosts->len, ==, 3);
  inet_ntop (AF_INET, g_array_index (o.ns_hosts, ShOpen, 0).addr, text, sizeof text);
  g_assert_cmpstr (text, ==, "10.0.0.53");
  g_assert_cmpint (g_array_index (o.ns_hosts, ShOpen, 1).family, ==, AF_INET6);
  g_assert_cmpuint (g_array_index (o.ns_hosts, ShOpen, 2).port, ==, 53);
  g_assert_cmpint (o.to_ns.family, ==, AF_INET6);
  g_assert_cmpuint (o.to_ns.port, ==, 5353);
  g_assert_cmpstr (o.seed_hosts, ==, "a.example,b");
  sh_options_clear (&o);

  g_assert_true (parse (&o, NULL, "--dns", "--to-ns", "10.0.0.53", "10/8", NULL));
  g_assert_cmpuint (o.to_ns.port, ==, 53);
  sh_options_clear (&o);
  g_assert_true (parse (&o, NULL, "--dns", "--to-ns", "10.0.0.53:99", "10/8", NULL));
  g_assert_cmpuint (o.to_ns.port, ==, 99);
  sh_options_clear (&o);
  g_assert_true (parse (&o, NULL, "--dns", "--to-ns", "fd00::53", "10/8", NULL));
  g_assert_cmpint (o.to_ns.family, ==, AF_INET6);
  g_assert_cmpuint (o.to_ns.port, ==, 53);
  sh_options_clear (&o);

  assert_parse_fails ("invalid address 'ns.example' for '--to-ns': not an IPv4 or IPv6 address",
                      "--dns", "--to-ns", "ns.example", "10/8");
  assert_parse_fails ("invalid port in '10.0.0.1:0' for '--to-ns': expected 1..65535", "--dns",
                      "--to-ns", "10.0.0.1:0", "10/8");
  assert_parse_fails ("invalid nameserver '10.0.0.1:53' for '--ns-hosts': give the address only",
                      "--dns", "--ns-hosts", "10.0.0.1:53", "10/8");
  assert_parse_fails ("invalid address '10.0.0' for '--ns-hosts': not an IPv4 or IPv6 address",
                      "--dns", "--ns-hosts", "10.0.0.1,10.0.0", "10/8");
  assert_parse_fails ("--ns-hosts and --to-ns need --dns", "--ns-hosts", "10.0.0.1", "10/8");
  assert_parse_fails ("--ns-hosts and --to-ns need --dns", "--to-ns", "10.0.0.1", "10/8");
  assert_parse_fails ("invalid host name 'bad name' for '--seed-hosts'", "-H", "--seed-hosts",
                      "ok,bad name", "10/8");
  assert_parse_fails ("invalid host name '-x' for '--seed-hosts'", "-H", "--seed-hosts=-x", "10/8");
  assert_parse_fails ("--seed-hosts needs -H (--auto-hosts)", "--seed-hosts", "a", "10/8");
}

static void
test_no_subnets (void)
{
  ShOptions o;

#define NO_SUBNETS                                                                                 \
  "no subnets given; name at least one, e.g. 10.0.0.0/8, use -N to tunnel the networks the "       \
  "server routes, or --socks PORT"
  assert_parse_fails (NO_SUBNETS, "-r", "gw");
  assert_parse_fails (NO_SUBNETS, "-v");
  assert_parse_fails (NO_SUBNETS, "--dns", "-H");

  /* -N alone is enough: the server's routes are the subnets. */
  g_assert_true (parse (&o, NULL, "-r", "gw", "-N", NULL));
  g_assert_true (o.auto_nets);
  g_assert_cmpuint (o.subnets->len, ==, 0);
  sh_options_clear (&o);

  /* Server mode needs none. */
  g_assert_true (parse (&o, NULL, "--server", NULL));
  g_assert_cmpint (o.mode, ==, SH_MODE_SERVER);
  g_assert_cmpuint (o.subnets->len, ==, 0);
  sh_options_clear (&o);

  /* No arguments at all. */
  {
    char *argv[] = { (char *) "shuttle", NULL };
    g_autoptr (GError) error = NULL;

    g_assert_false (sh_options_parse (&o, 1, argv, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    sh_options_clear (&o);
  }
}

static void
test_subnets (void)
{
  ShOptions o;

  g_assert_true (parse (&o, NULL, "10/8", "192.168.1.5", "[fd00::]/8:22", "0/0:443", NULL));
  g_assert_cmpuint (o.subnets->len, ==, 4);
  assert_subnet (o.subnets, 0, "10.0.0.0/8");
  assert_subnet (o.subnets, 1, "192.168.1.5/32");
  assert_subnet (o.subnets, 2, "[fd00::]/8:22");
  assert_subnet (o.subnets, 3, "0.0.0.0/0:443");
  sh_options_clear (&o);

  /* After "--" everything is a subnet, even what looks like an option. */
  g_assert_true (parse (&o, NULL, "-v", "--", "10/8", NULL));
  g_assert_cmpint (o.verbose, ==, 1);
  g_assert_cmpuint (o.subnets->len, ==, 1);
  sh_options_clear (&o);
  assert_parse_fails ("invalid subnet '-v': '-v' is neither an IP address nor a host name", "--",
                      "-v");

  /* Host names are resolved (localhost is in /etc/hosts). */
  g_assert_true (parse (&o, NULL, "localhost", NULL));
  g_assert_cmpuint (o.subnets->len, >=, 1);
  sh_options_clear (&o);
}

static void
test_bad_subnets (void)
{
  assert_parse_fails ("invalid subnet '10.0.0.300/8': '10.0.0.300' is not an IPv4 address",
                      "10.0.0.300/8");
  assert_parse_fails ("invalid subnet '10.0.0.0/33': '33' is not a prefix length (0..32)", "10/8",
                      "10.0.0.0/33");
  assert_parse_fails ("invalid subnet 'fd00::/129': '129' is not a prefix length (0..128)",
                      "fd00::/129");
  assert_parse_fails ("invalid subnet '1.2.3.4:0': port '0' is out of range (1..65535)",
                      "1.2.3.4:0");
  assert_parse_fails ("invalid subnet ':70000': missing address", ":70000");
  assert_parse_fails ("invalid subnet '1.2.3.4:5-3': port range '5-3' is reversed", "1.2.3.4:5-3");
  assert_parse_fails ("invalid subnet '': empty", "");
  assert_parse_fails ("invalid subnet '-': '-' is neither an IP address nor a host name", "-");
  assert_parse_fails ("invalid subnet 'g@r/bage': 'g@r' is neither an IP address nor a host name",
                      "g@r/bage");

  {
    ShOptions o;
    g_autoptr (GError) error = NULL;

    g_assert_false (parse (&o, &error, "nosuchhost.invalid", NULL));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_assert_true (g_str_has_prefix (error->message, "invalid subnet 'nosuchhost.invalid': "
                                                     "cannot resolve 'nosuchhost.invalid'"));
    sh_options_clear (&o);
  }
}

static void
test_unknown_options (void)
{
  assert_parse_fails ("unknown option '--frobnicate'", "--frobnicate", "10/8");
  assert_parse_fails ("unknown option '--frobnicate'", "10/8", "--frobnicate=3");
  assert_parse_fails ("unknown option '-z'", "-z", "10/8");
  assert_parse_fails ("unknown option '-z' in '-vzD'", "-vzD", "10/8");
  /* No abbreviations: they would break when a new option is added. */
  assert_parse_fails ("unknown option '--rem'", "--rem", "gw", "10/8");
  assert_parse_fails ("unknown option '---remote'", "---remote", "gw", "10/8");
  assert_parse_fails ("unknown option '--'", "--=x", "10/8");
}

static void
test_missing_arguments (void)
{
  assert_parse_fails ("option '-r' needs an argument", "10/8", "-r");
  assert_parse_fails ("option '--remote' needs an argument", "10/8", "--remote");
  assert_parse_fails ("option '-r' needs an argument", "-r", "-v", "10/8");
  assert_parse_fails ("option '-r' needs an argument", "-vr", "--daemon", "10/8");
  assert_parse_fails ("option '-x' needs an argument", "10/8", "-x");
  assert_parse_fails ("option '--exclude-from' needs an argument", "10/8", "--exclude-from");
  assert_parse_fails ("option '-l' needs an argument", "10/8", "-l");
  assert_parse_fails ("option '-e' needs an argument", "10/8", "-e");
  assert_parse_fails ("option '--server-cmd' needs an argument", "10/8", "--server-cmd");
  assert_parse_fails ("option '--pidfile' needs an argument", "10/8", "--pidfile");
  assert_parse_fails ("option '--connect-timeout' needs an argument", "10/8", "--connect-timeout");
  assert_parse_fails ("option '--daemon' takes no argument", "10/8", "--daemon=yes");
  assert_parse_fails ("option '--server-cmd' needs a non-empty value", "10/8", "--server-cmd=");
  assert_parse_fails ("option '--pidfile' needs a non-empty value", "10/8", "--pidfile=");
}

static void
test_remote_forms (void)
{
  static const struct
  {
    const char *arg;
    const char *user;
    const char *host;
    guint port;
  } cases[] = {
    { "gw", NULL, "gw", 0 },
    { "alice@gw", "alice", "gw", 0 },
    { "alice@gw:2222", "alice", "gw", 2222 },
    { "gw.example.com:22", NULL, "gw.example.com", 22 },
    { "[::1]:2222", NULL, "::1", 2222 },
    { "[::1]", NULL, "::1", 0 },
    { "user@[fd00::1]:22", "user", "fd00::1", 22 },
    { "fd00::1", NULL, "fd00::1", 0 },
    { "bob@2001:db8::7", "bob", "2001:db8::7", 0 },
    { "a@corp@gw:65535", "a@corp", "gw", 65535 },
    { "10.0.0.1:1", NULL, "10.0.0.1", 1 },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      ShOptions o;
      g_autoptr (GError) error = NULL;

      g_test_message ("remote %s", cases[i].arg);
      g_assert_true (parse (&o, &error, "-r", cases[i].arg, "10/8", NULL));
      g_assert_no_error (error);
      g_assert_cmpstr (o.remote, ==, cases[i].arg);
      g_assert_cmpstr (o.remote_user, ==, cases[i].user);
      g_assert_cmpstr (o.remote_host, ==, cases[i].host);
      g_assert_cmpuint (o.remote_port, ==, cases[i].port);
      sh_options_clear (&o);
    }
}

static void
test_remote_option_forms (void)
{
  const char *const forms[][3] = {
    { "-r", "alice@gw:2222", NULL },       { "-ralice@gw:2222", NULL, NULL },
    { "--remote", "alice@gw:2222", NULL }, { "--remote=alice@gw:2222", NULL, NULL },
    { "-vralice@gw:2222", NULL, NULL },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (forms); i++)
    {
      ShOptions o;

      if (forms[i][1] != NULL)
        g_assert_true (parse (&o, NULL, forms[i][0], forms[i][1], "10/8", NULL));
      else
        g_assert_true (parse (&o, NULL, forms[i][0], "10/8", NULL));
      g_assert_cmpstr (o.remote_user, ==, "alice");
      g_assert_cmpstr (o.remote_host, ==, "gw");
      g_assert_cmpuint (o.remote_port, ==, 2222);
      g_assert_cmpint (o.verbose, ==, i == 4 ? 1 : 0);
      sh_options_clear (&o);
    }

  /* The last -r wins. */
  {
    ShOptions o;

    g_assert_true (parse (&o, NULL, "-r", "a@one:1", "-r", "two", "10/8", NULL));
    g_assert_cmpstr (o.remote, ==, "two");
    g_assert_null (o.remote_user);
    g_assert_cmpstr (o.remote_host, ==, "two");
    g_assert_cmpuint (o.remote_port, ==, 0);
    sh_options_clear (&o);
  }
}

static void
test_remote_bad (void)
{
  assert_parse_fails ("invalid port '0' in '--remote gw:0'", "-r", "gw:0", "10/8");
  assert_parse_fails ("invalid port '70000' in '--remote alice@gw:70000'", "-r", "alice@gw:70000",
                      "10/8");
  assert_parse_fails ("invalid port 'ssh' in '--remote gw:ssh'", "-r", "gw:ssh", "10/8");
  assert_parse_fails ("invalid port '' in '--remote gw:'", "-r", "gw:", "10/8");
  assert_parse_fails ("invalid port '-1' in '--remote [::1]:-1'", "-r", "[::1]:-1", "10/8");
  assert_parse_fails ("invalid port '99999' in '--remote u@[fd00::1]:99999'", "-r",
                      "u@[fd00::1]:99999", "10/8");
  assert_parse_fails ("invalid remote '': empty", "--remote=", "10/8");
  assert_parse_fails ("invalid remote '@gw': empty user name before '@'", "--remote=@gw", "10/8");
  assert_parse_fails ("invalid remote 'alice@': missing host", "-r", "alice@", "10/8");
  assert_parse_fails ("invalid remote 'alice@:22': missing host", "-r", "alice@:22", "10/8");
  assert_parse_fails ("invalid remote '[::1': missing ']'", "-r", "[::1", "10/8");
  assert_parse_fails ("invalid remote '[]:22': missing host", "-r", "[]:22", "10/8");
  assert_parse_fails ("invalid remote '[::1]x': unexpected text after ']'", "-r", "[::1]x", "10/8");
  assert_parse_fails ("invalid remote 'gw]': stray bracket in host", "-r", "gw]", "10/8");
  assert_parse_fails ("invalid remote '-oProxyCommand=x': user and host must not start with '-'",
                      "--remote=-oProxyCommand=x", "10/8");
  assert_parse_fails ("invalid remote '-l@gw': user and host must not start with '-'",
                      "--remote=-l@gw", "10/8");
  assert_parse_fails ("invalid remote 'a b': contains a space or control character", "-r", "a b",
                      "10/8");
  assert_parse_fails ("invalid remote 'gw\\x0a': contains a space or control character", "-r",
                      "gw\n", "10/8");
}

static void
test_listen (void)
{
  static const struct
  {
    const char *arg;
    const char *addr;
    guint port;
  } cases[] = {
    { "1234", NULL, 1234 },        { "0", NULL, 0 },
    { "65535", NULL, 65535 },      { "127.0.0.1:1234", "127.0.0.1", 1234 },
    { "0.0.0.0:0", "0.0.0.0", 0 }, { "[::1]:2222", "::1", 2222 },
    { "[::]:0", "::", 0 },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      ShOptions o;
      g_autoptr (GError) error = NULL;
      g_autofree char *eq = g_strconcat ("--listen=", cases[i].arg, NULL);

      g_test_message ("listen %s", cases[i].arg);
      g_assert_true (parse (&o, &error, "-l", cases[i].arg, "10/8", NULL));
      g_assert_no_error (error);
      g_assert_cmpstr (o.listen_addr, ==, cases[i].addr);
      g_assert_cmpuint (o.listen_port, ==, cases[i].port);
      sh_options_clear (&o);

      g_assert_true (parse (&o, &error, eq, "10/8", NULL));
      g_assert_cmpstr (o.listen_addr, ==, cases[i].addr);
      g_assert_cmpuint (o.listen_port, ==, cases[i].port);
      sh_options_clear (&o);
    }

  assert_parse_fails ("invalid port '70000' in '--listen 70000'", "--listen", "70000", "10/8");
  assert_parse_fails ("invalid port '65536' in '--listen 127.0.0.1:65536'", "-l", "127.0.0.1:65536",
                      "10/8");
  assert_parse_fails ("invalid port 'x' in '--listen [::1]:x'", "-l", "[::1]:x", "10/8");
  assert_parse_fails ("invalid port '' in '--listen 127.0.0.1:'", "-l", "127.0.0.1:", "10/8");
  assert_parse_fails ("invalid port '' in '--listen '", "--listen=", "10/8");
  assert_parse_fails ("invalid port '12 ' in '--listen 12 '", "-l", "12 ", "10/8");
  assert_parse_fails ("invalid listen address '1.2.3' in '--listen 1.2.3:80'", "-l", "1.2.3:80",
                      "10/8");
  assert_parse_fails ("invalid listen address 'localhost' in '--listen localhost:80'", "-l",
                      "localhost:80", "10/8");
  assert_parse_fails ("invalid listen address '10.0.0.1' in '--listen [10.0.0.1]:80'", "-l",
                      "[10.0.0.1]:80", "10/8");
  assert_parse_fails ("invalid listen address in '--listen ::1:80': write IPv6 in brackets, e.g. "
                      "[::1]:PORT",
                      "-l", "::1:80", "10/8");
  assert_parse_fails ("invalid listen address in '--listen [::1]': expected [ADDRESS]:PORT", "-l",
                      "[::1]", "10/8");
}

/* --socks: the endpoint alone is enough (no subnets), and it needs a port. */
static void
test_socks (void)
{
  ShOptions o;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse (&o, &error, "-r", "gw", "--socks", "1080", NULL));
  g_assert_no_error (error);
  g_assert_true (o.socks);
  g_assert_null (o.socks_addr);
  g_assert_cmpuint (o.socks_port, ==, 1080);
  g_assert_cmpuint (o.subnets->len, ==, 0);
  sh_options_clear (&o);

  g_assert_true (parse (&o, &error, "--socks=[::1]:1081", "10/8", NULL));
  g_assert_cmpstr (o.socks_addr, ==, "::1");
  g_assert_cmpuint (o.socks_port, ==, 1081);
  sh_options_clear (&o);

  assert_parse_fails ("invalid port '0' in '--socks 0'", "--socks", "0");
  assert_parse_fails ("invalid listen address 'localhost' in '--socks localhost:1080'", "--socks",
                      "localhost:1080");
}

/* shuttle run: the command after "--" is not parsed as options. */
static void
test_run (void)
{
  ShOptions o;
  g_autoptr (GError) error = NULL;

  g_assert_true (parse (&o, &error, "run", "-r", "gw", "10/8", "--", "curl", "-v", "--dns", NULL));
  g_assert_no_error (error);
  g_assert_nonnull (o.run_argv);
  g_assert_cmpuint (g_strv_length (o.run_argv), ==, 3);
  g_assert_cmpstr (o.run_argv[0], ==, "curl");
  g_assert_cmpstr (o.run_argv[2], ==, "--dns");
  g_assert_false (o.dns);
  g_assert_cmpint (o.verbose, ==, 0);
  g_assert_cmpuint (o.subnets->len, ==, 1);
  sh_options_clear (&o);

  g_assert_true (parse (&o, &error, "-r", "gw", "10/8", NULL));
  g_assert_null (o.run_argv);
  sh_options_clear (&o);

  assert_parse_fails ("shuttle run: name the command after --, e.g. shuttle run -r gw 10.0.0.0/8 "
                      "-- curl http://10.1.2.3/",
                      "run", "-r", "gw", "10/8");
  assert_parse_fails ("shuttle run: name the command after --, e.g. shuttle run -r gw 10.0.0.0/8 "
                      "-- curl http://10.1.2.3/",
                      "run", "10/8", "--");
  assert_parse_fails ("shuttle run takes neither --ns-hosts (its --dns captures no nameserver: the "
                      "command asks the engine), -H, --daemon, --control-fd nor --server",
                      "run", "--dns", "--ns-hosts", "10.0.0.53", "10/8", "--", "true");
  assert_parse_fails ("shuttle run takes neither --ns-hosts (its --dns captures no nameserver: the "
                      "command asks the engine), -H, --daemon, --control-fd nor --server",
                      "run", "-H", "10/8", "--", "true");

  /* --scope and --exclude-scope: only with run */
  g_assert_true (parse (&o, &error, "run", "--scope", "10/8", "--", "true", NULL));
  g_assert_cmpint (o.scope, ==, SH_SCOPE_ONLY);
  sh_options_clear (&o);
  g_assert_true (parse (&o, &error, "run", "--exclude-scope", "10/8", "--", "true", NULL));
  g_assert_cmpint (o.scope, ==, SH_SCOPE_EXCLUDE);
  sh_options_clear (&o);
  assert_parse_fails ("--scope and --exclude-scope go with shuttle run", "--scope", "-r", "gw",
                      "10/8");

  /* run --attach: no engine of our own, so no server and no subnets needed */
  g_assert_true (parse (&o, &error, "run", "--attach", "1234", "--", "curl", "x", NULL));
  g_assert_no_error (error);
  g_assert_cmpstr (o.attach, ==, "1234");
  g_assert_cmpuint (o.subnets->len, ==, 0);
  g_assert_cmpstr (o.run_argv[0], ==, "curl");
  sh_options_clear (&o);
  g_assert_true (parse (&o, &error, "run", "-v", "--attach", "1234", "10.1/16", "-x", "10.1.2/24",
                        "--", "true", NULL));
  g_assert_cmpuint (o.subnets->len, ==, 1);
  g_assert_cmpuint (o.excludes->len, ==, 1);
  sh_options_clear (&o);
  g_assert_true (parse (&o, &error, "-r", "gw", "10/8", NULL));
  g_assert_null (o.attach);
  sh_options_clear (&o);
#define ATTACH_ONLY                                                                                \
  "--attach goes with shuttle run, and only with subnets, -x and -v: the running engine has its "  \
  "server, rules and options already"
  assert_parse_fails (ATTACH_ONLY, "--attach", "1234", "10/8");
  assert_parse_fails (ATTACH_ONLY, "run", "--attach", "1234", "-r", "gw", "--", "true");
  assert_parse_fails (ATTACH_ONLY, "run", "--attach", "1234", "--dns", "--", "true");
  assert_parse_fails (ATTACH_ONLY, "run", "--attach", "1234", "--scope", "--", "true");
  assert_parse_fails (ATTACH_ONLY, "run", "--attach", "1234", "--socks", "1080", "--", "true");
#undef ATTACH_ONLY

  /* run --dns: names through the engine (and --to-ns chooses the resolver) */
  g_assert_true (
      parse (&o, &error, "run", "--dns", "--to-ns", "10.0.0.53", "10/8", "--", "true", NULL));
  g_assert_true (o.dns);
  g_assert_true (o.has_to_ns);
  g_assert_cmpstr (o.run_argv[0], ==, "true");
  sh_options_clear (&o);
}

static void
test_verbose (void)
{
  static const struct
  {
    const char *args[4];
    int verbose;
  } cases[] = {
    { { "-v" }, 1 },
    { { "-v", "-v" }, 2 },
    { { "-vv" }, 2 },
    { { "-vvv", "--verbose" }, 4 },
    { { "-vv", "-q" }, 1 },
    { { "-q" }, -1 },
    { { "--quiet", "-qq" }, -3 },
    { { "-vqv" }, 1 },
  };
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      ShOptions o;

      g_assert_true (parse (&o, NULL, "10/8", cases[i].args[0] ? cases[i].args[0] : "10/8",
                            cases[i].args[1] ? cases[i].args[1] : "10/8", NULL));
      g_assert_cmpint (o.verbose, ==, cases[i].verbose);
      sh_options_clear (&o);
    }
}

/* --reconnect, and --fail-closed which means nothing without it. */
static void
test_reconnect (void)
{
  ShOptions o;

  g_assert_true (parse (&o, NULL, "--reconnect", "10/8", NULL));
  g_assert_true (o.reconnect);
  g_assert_false (o.fail_closed);
  sh_options_clear (&o);

  g_assert_true (parse (&o, NULL, "--fail-closed", "--reconnect", "10/8", NULL));
  g_assert_true (o.reconnect);
  g_assert_true (o.fail_closed);
  sh_options_clear (&o);

  assert_parse_fails ("--fail-closed needs --reconnect: it says what happens while the tunnel "
                      "is down, and without --reconnect shuttle exits instead",
                      "--fail-closed", "10/8");
  assert_parse_fails ("option '--reconnect' takes no argument", "--reconnect=yes", "10/8");
}

static void
test_transport (void)
{
  ShOptions o;

  g_assert_true (parse (&o, NULL, "-r", "gw", "10/8", NULL));
  g_assert_cmpint (o.transport, ==, SH_TRANSPORT_AUTO);
  g_assert_null (sh_options_ssh_transport_conflict (&o));
  sh_options_clear (&o);
  g_assert_true (parse (&o, NULL, "-r", "gw", "--transport=agent", "-N", NULL));
  g_assert_cmpint (o.transport, ==, SH_TRANSPORT_AGENT);
  sh_options_clear (&o);
  g_assert_true (parse (&o, NULL, "-r", "gw", "--transport", "ssh", "--dns", "--to-ns", "10.0.0.53",
                        "10/8", NULL));
  g_assert_cmpint (o.transport, ==, SH_TRANSPORT_SSH);
  sh_options_clear (&o);
  /* auto accepts -N: only its fallback is then ruled out, with the reason. */
  g_assert_true (parse (&o, NULL, "-r", "gw", "-N", NULL));
  g_assert_nonnull (sh_options_ssh_transport_conflict (&o));
  sh_options_clear (&o);

  assert_parse_fails ("invalid --transport 'tcp': give auto, agent or ssh", "--transport=tcp",
                      "10/8");
  assert_parse_fails ("--transport=ssh needs -r: it forwards through an ssh server",
                      "--transport=ssh", "10/8");
  assert_parse_fails ("-N and -H need Shuttle's server on the ssh server, which --transport=ssh "
                      "does not run: name the subnets to tunnel, and use --dns --to-ns for names",
                      "-r", "gw", "--transport=ssh", "-N");
  assert_parse_fails ("-N and -H need Shuttle's server on the ssh server, which --transport=ssh "
                      "does not run: name the subnets to tunnel, and use --dns --to-ns for names",
                      "-r", "gw", "--transport=ssh", "-H", "10/8");
  assert_parse_fails ("--server-cmd and --python name a server to run, which --transport=ssh "
                      "does not: drop them, or use --transport=agent",
                      "-r", "gw", "--transport=ssh", "--python", "python3", "10/8");
  assert_parse_fails ("--dns with --transport=ssh needs --to-ns IP: the queries go as DNS over "
                      "TCP to that resolver, through ssh's forwarding (there is no server of "
                      "ours to ask)",
                      "-r", "gw", "--transport=ssh", "--dns", "10/8");
}

static void
test_flags (void)
{
  ShOptions o;

  g_assert_true (parse (&o, NULL, "-vD", "--syslog", "--no-latency-control", "10/8", NULL));
  g_assert_cmpint (o.verbose, ==, 1);
  g_assert_true (o.daemon);
  g_assert_cmpstr (o.pidfile, ==, "shuttle.pid");
  g_assert_true (o.syslog);
  g_assert_false (o.latency_control);
  g_assert_false (o.block_ipv6);
  sh_options_clear (&o);

  g_assert_true (parse (&o, NULL, "--block-ipv6", "0/0", NULL));
  g_assert_true (o.block_ipv6);
  sh_options_clear (&o);

  g_assert_true (parse (&o, NULL, "--daemon", "--pidfile", "/run/s.pid", "10/8", NULL));
  g_assert_true (o.daemon);
  g_assert_cmpstr (o.pidfile, ==, "/run/s.pid");
  sh_options_clear (&o);

  g_assert_true (parse (&o, NULL, "--pidfile=/tmp/p", "-D", "10/8", NULL));
  g_assert_cmpstr (o.pidfile, ==, "/tmp/p");
  sh_options_clear (&o);

  /* Without --daemon there is no default pidfile. */
  g_assert_true (parse (&o, NULL, "10/8", NULL));
  g_assert_null (o.pidfile);
  sh_options_clear (&o);

  g_assert_true (parse (&o, NULL, "--server", "-v", NULL));
  g_assert_cmpint (o.mode, ==, SH_MODE_SERVER);
  sh_options_clear (&o);
}

static void
test_commands (void)
{
  ShOptions o;

  g_assert_true (parse (&o, NULL, "-e", "ssh -i key -o 'Foo bar'", "--server-cmd",
                        "/opt/shuttle/bin/shuttle-server", "10/8", NULL));
  g_assert_cmpstr (o.ssh_cmd, ==, "ssh -i key -o 'Foo bar'");
  g_assert_cmpstr (o.server_cmd, ==, "/opt/shuttle/bin/shuttle-server");
  sh_options_clear (&o);

  g_assert_true (parse (&o, NULL, "-essh -4", "--ssh-cmd=sshpass ssh", "10/8", NULL));
  g_assert_cmpstr (o.ssh_cmd, ==, "sshpass ssh");
  sh_options_clear (&o);

  assert_parse_fails ("invalid --ssh-cmd 'ssh \"': unbalanced quotes", "-e", "ssh \"", "10/8");
  assert_parse_fails ("invalid --ssh-cmd '': empty command", "--ssh-cmd=", "10/8");
  assert_parse_fails ("invalid --ssh-cmd ' ': empty command", "-e", " ", "10/8");

  g_assert_true (parse (&o, NULL, "--python", "/opt/py-3.12/bin/python3", "10/8", NULL));
  g_assert_cmpstr (o.python, ==, "/opt/py-3.12/bin/python3");
  g_assert_null (o.server_cmd);
  sh_options_clear (&o);
  /* It goes into a remote shell command: nothing a shell would interpret. */
  assert_parse_fails ("invalid --python 'python3; rm -rf ~': give the interpreter's path or name "
                      "(letters, digits and / . _ + - only)",
                      "--python", "python3; rm -rf ~", "10/8");
  assert_parse_fails ("invalid --python '$(id)': give the interpreter's path or name (letters, "
                      "digits and / . _ + - only)",
                      "--python=$(id)", "10/8");
  assert_parse_fails ("--server-cmd and --python exclude each other: the first runs a server "
                      "installed there, the second uploads the agent",
                      "--python", "python3", "--server-cmd", "shuttle-server", "10/8");
}

static void
test_connect_timeout (void)
{
  ShOptions o;

  g_assert_true (parse (&o, NULL, "--connect-timeout", "1", "10/8", NULL));
  g_assert_cmpuint (o.connect_timeout_ms, ==, 1000);
  sh_options_clear (&o);
  g_assert_true (parse (&o, NULL, "--connect-timeout=600", "10/8", NULL));
  g_assert_cmpuint (o.connect_timeout_ms, ==, 600000);
  sh_options_clear (&o);
  g_assert_true (parse (&o, NULL, "--connect-timeout=030", "10/8", NULL));
  g_assert_cmpuint (o.connect_timeout_ms, ==, 30000);
  sh_options_clear (&o);

  assert_parse_fails ("invalid connect timeout '0': must be 1 to 600 seconds", "--connect-timeout",
                      "0", "10/8");
  assert_parse_fails ("invalid connect timeout '601': must be 1 to 600 seconds",
                      "--connect-timeout", "601", "10/8");
  assert_parse_fails ("invalid connect timeout '4294967297': must be 1 to 600 seconds",
                      "--connect-timeout", "4294967297", "10/8");
  assert_parse_fails ("invalid connect timeout '1.5': must be 1 to 600 seconds",
                      "--connect-timeout", "1.5", "10/8");
  assert_parse_fails ("invalid connect timeout '': must be 1 to 600 seconds",
                      "--connect-timeout=", "10/8");
  assert_parse_fails ("invalid connect timeout '10s': must be 1 to 600 seconds",
                      "--connect-timeout=10s", "10/8");
}

static void
test_connect_fidelity (void)
{
  ShOptions o;

  g_assert_true (parse (&o, NULL, "10/8", NULL));
  g_assert_true (o.connect_fidelity);
  sh_options_clear (&o);
  g_assert_true (parse (&o, NULL, "--no-connect-fidelity", "10/8", NULL));
  g_assert_false (o.connect_fidelity);
  sh_options_clear (&o);
}

static void
test_udp (void)
{
  ShOptions o;

  g_assert_true (parse (&o, NULL, "10/8", NULL));
  g_assert_cmpint (o.udp, ==, 0);
  g_assert_cmpuint (o.udp_timeout_s, ==, 60);
  sh_options_clear (&o);
  g_assert_true (parse (&o, NULL, "--no-udp", "--udp-timeout", "5", "10/8", NULL));
  g_assert_cmpint (o.udp, ==, -1);
  g_assert_cmpuint (o.udp_timeout_s, ==, 5);
  sh_options_clear (&o);
  g_assert_true (parse (&o, NULL, "--udp", "--udp-timeout=3600", "10/8", NULL));
  g_assert_cmpint (o.udp, ==, 1);
  g_assert_cmpuint (o.udp_timeout_s, ==, 3600);
  sh_options_clear (&o);
  assert_parse_fails ("invalid UDP timeout '0': must be 1 to 3600 seconds", "--udp-timeout", "0",
                      "10/8");
  assert_parse_fails ("invalid UDP timeout '3601': must be 1 to 3600 seconds", "--udp-timeout",
                      "3601", "10/8");
  assert_parse_fails ("invalid UDP timeout '99999': must be 1 to 3600 seconds", "--udp-timeout",
                      "99999", "10/8");
  assert_parse_fails ("--udp needs Shuttle's server on the ssh server: ssh's own forwarding "
                      "carries only TCP; use --transport=agent",
                      "-r", "gw", "--transport=ssh", "--udp", "10/8");
  /* without --udp, ssh's forwarding only turns UDP off (said at run time) */
  g_assert_true (parse (&o, NULL, "-r", "gw", "--transport=ssh", "10/8", NULL));
  sh_options_clear (&o);
}

static void
test_exclude (void)
{
  ShOptions o;

  g_assert_true (parse (&o, NULL, "0/0", "-x", "10.1/16", "--exclude", "192.168.0.0/24",
                        "--exclude=[fd00::]/8:22", "-x10.9.9.9", NULL));
  g_assert_cmpuint (o.subnets->len, ==, 1);
  g_assert_cmpuint (o.excludes->len, ==, 4);
  assert_subnet (o.excludes, 0, "10.1.0.0/16");
  assert_subnet (o.excludes, 1, "192.168.0.0/24");
  assert_subnet (o.excludes, 2, "[fd00::]/8:22");
  assert_subnet (o.excludes, 3, "10.9.9.9/32");
  sh_options_clear (&o);

  assert_parse_fails ("invalid subnet '10.0.0.300': '10.0.0.300' is not an IPv4 address", "0/0",
                      "-x", "10.0.0.300");
}

static void
test_exclude_from (void)
{
  g_autofree char *path = write_file ("excludes", "# office networks\n"
                                                  "10.1.0.0/16\n"
                                                  "\n"
                                                  "   192.168.7.0/24   \r\n"
                                                  "\t# indented comment\n"
                                                  "[fd00::]/8:22  # trailing comment\n"
                                                  "172.16/12");
  g_autofree char *bad = write_file ("excludes-bad", "10.1.0.0/16\n\n10.2.0.0/99\n");
  g_autofree char *missing = g_build_filename (tmpdir, "no-such-file", NULL);
  g_autofree char *expected = NULL;
  g_autofree char *eq = g_strconcat ("--exclude-from=", path, NULL);
  ShOptions o;

  g_assert_true (parse (&o, NULL, "-X", path, "-x", "1.2.3.4", "0/0", NULL));
  g_assert_cmpuint (o.excludes->len, ==, 5);
  assert_subnet (o.excludes, 0, "10.1.0.0/16");
  assert_subnet (o.excludes, 1, "192.168.7.0/24");
  assert_subnet (o.excludes, 2, "[fd00::]/8:22");
  assert_subnet (o.excludes, 3, "172.16.0.0/12");
  assert_subnet (o.excludes, 4, "1.2.3.4/32");
  sh_options_clear (&o);

  g_assert_true (parse (&o, NULL, eq, "0/0", NULL));
  g_assert_cmpuint (o.excludes->len, ==, 4);
  sh_options_clear (&o);

  expected = g_strdup_printf ("%s:3: invalid subnet '10.2.0.0/99': '99' is not a prefix length "
                              "(0..32)",
                              bad);
  assert_parse_fails (expected, "--exclude-from", bad, "0/0");
  g_clear_pointer (&expected, g_free);

  expected = g_strdup_printf ("cannot read exclude file '%s': No such file or directory", missing);
  assert_parse_fails (expected, "-X", missing, "0/0");
}

static void
test_argfile (void)
{
  g_autofree char *inner = write_file ("inner.args", "-x 10.2/16\n--daemon\n");
  g_autofree char *inner_ref = g_strconcat ("@", inner, NULL);
  g_autofree char *outer_text = g_strdup_printf ("# shuttle arguments\n"
                                                 "\n"
                                                 "-r alice@gw:2222\n"
                                                 "  --exclude   10.1/16  \n"
                                                 "--ssh-cmd ssh -i /k/id\r\n"
                                                 "-vv\n"
                                                 "%s\n"
                                                 "10/8\n"
                                                 "[fd00::]/8:22\n",
                                                 inner_ref);
  g_autofree char *outer = write_file ("outer.args", outer_text);
  g_autofree char *outer_ref = g_strconcat ("@", outer, NULL);
  ShOptions o;

  g_assert_true (parse (&o, NULL, "-q", outer_ref, "192.168/16", NULL));
  g_assert_cmpstr (o.remote_user, ==, "alice");
  g_assert_cmpstr (o.remote_host, ==, "gw");
  g_assert_cmpuint (o.remote_port, ==, 2222);
  g_assert_cmpstr (o.ssh_cmd, ==, "ssh -i /k/id");
  g_assert_cmpint (o.verbose, ==, 1);
  g_assert_true (o.daemon);
  g_assert_cmpuint (o.excludes->len, ==, 2);
  assert_subnet (o.excludes, 0, "10.1.0.0/16");
  assert_subnet (o.excludes, 1, "10.2.0.0/16");
  g_assert_cmpuint (o.subnets->len, ==, 3);
  assert_subnet (o.subnets, 0, "10.0.0.0/8");
  assert_subnet (o.subnets, 1, "[fd00::]/8:22");
  assert_subnet (o.subnets, 2, "192.168.0.0/16");
  sh_options_clear (&o);

  /* "@" alone is not a file reference (and not a subnet either). */
  assert_parse_fails ("invalid subnet '@': '@' is neither an IP address nor a host name", "@");
}

static void
test_argfile_errors (void)
{
  g_autofree char *self = g_build_filename (tmpdir, "self.args", NULL);
  g_autofree char *self_text = g_strdup_printf ("10/8\n@%s\n", self);
  g_autofree char *self_ref = g_strconcat ("@", self, NULL);
  g_autofree char *missing = g_build_filename (tmpdir, "missing.args", NULL);
  g_autofree char *missing_ref = g_strconcat ("@", missing, NULL);
  g_autofree char *bad = write_file ("bad.args", "--frobnicate\n");
  g_autofree char *bad_ref = g_strconcat ("@", bad, NULL);
  g_autofree char *nul = g_build_filename (tmpdir, "nul.args", NULL);
  g_autofree char *nul_ref = g_strconcat ("@", nul, NULL);
  g_autofree char *expected = NULL;

  g_assert_true (g_file_set_contents (self, self_text, -1, NULL));
  g_assert_true (g_file_set_contents (nul, "10/8\n\0\n", 6, NULL));

  expected = g_strdup_printf ("argument file '@%s' nested more than 8 deep", self);
  assert_parse_fails (expected, self_ref);
  g_clear_pointer (&expected, g_free);

  expected = g_strdup_printf ("cannot read argument file '%s': No such file or directory", missing);
  assert_parse_fails (expected, "10/8", missing_ref);
  g_clear_pointer (&expected, g_free);

  expected = g_strdup_printf ("argument file '%s' contains a NUL byte", nul);
  assert_parse_fails (expected, nul_ref);

  assert_parse_fails ("unknown option '--frobnicate'", "10/8", bad_ref);
}

static void
test_argfile_limits (void)
{
  g_autoptr (GString) many = g_string_new (NULL);
  g_autofree char *many_path = NULL;
  g_autofree char *many_ref = NULL;
  g_autofree char *huge_path = g_build_filename (tmpdir, "huge.args", NULL);
  g_autofree char *huge_ref = g_strconcat ("@", huge_path, NULL);
  g_autofree char *huge = g_strnfill (1024 * 1024 + 1, '#');
  g_autofree char *expected = NULL;
  ShOptions o;
  int i;

  /* Up to 65536 arguments in all ... */
  for (i = 0; i < 65535; i++)
    g_string_append (many, "-v\n");
  many_path = write_file ("many.args", many->str);
  many_ref = g_strconcat ("@", many_path, NULL);
  g_assert_true (parse (&o, NULL, many_ref, "10/8", NULL));
  g_assert_cmpint (o.verbose, ==, 65535);
  sh_options_clear (&o);

  /* ... and not one more. */
  assert_parse_fails ("more than 65536 arguments after reading argument files", many_ref, "10/8",
                      "-v");

  g_assert_true (g_file_set_contents (huge_path, huge, -1, NULL));
  expected = g_strdup_printf ("argument file '%s' is larger than 1048576 bytes", huge_path);
  assert_parse_fails (expected, huge_ref, "10/8");
}

/* Writes a chain of @n argument files, each with "-v" and a reference to
 * the next; the last names a subnet. Returns "@first". */
static char *
write_chain (const char *prefix, int n)
{
  g_autofree char *first_ref = NULL;
  int level;

  for (level = n - 1; level >= 0; level--)
    {
      g_autofree char *name = g_strdup_printf ("%s%d.args", prefix, level);
      g_autofree char *next = g_strdup_printf ("%s/%s%d.args", tmpdir, prefix, level + 1);
      g_autofree char *text
          = level == n - 1 ? g_strdup ("10/8\n") : g_strdup_printf ("-v\n@%s\n", next);
      g_autofree char *path = write_file (name, text);

      if (level == 0)
        first_ref = g_strconcat ("@", path, NULL);
    }
  return g_steal_pointer (&first_ref);
}

static void
test_argfile_depth (void)
{
  g_autofree char *eight = write_chain ("ok", 8);
  g_autofree char *nine = write_chain ("deep", 9);
  g_autofree char *expected = NULL;
  ShOptions o;

  /* Eight files deep is allowed ... */
  g_assert_true (parse (&o, NULL, eight, NULL));
  g_assert_cmpint (o.verbose, ==, 7);
  g_assert_cmpuint (o.subnets->len, ==, 1);
  sh_options_clear (&o);

  /* ... the ninth is refused, and named. */
  expected = g_strdup_printf ("argument file '@%s/deep8.args' nested more than 8 deep", tmpdir);
  assert_parse_fails (expected, nine);
}

static void
test_help (void)
{
  if (g_test_subprocess ())
    {
      ShOptions o;

      parse (&o, NULL, "-v", "--help", "--frobnicate", NULL);
      g_assert_not_reached ();
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("Usage: shuttle *--remote*--exclude-from*--listen*--ssh-cmd*"
                             "--server-cmd*--no-latency-control*--pidfile*--syslog*"
                             "--connect-timeout*--block-ipv6*--version*");
  g_test_trap_assert_stderr ("");
}

static void
test_help_short (void)
{
  if (g_test_subprocess ())
    {
      ShOptions o;

      parse (&o, NULL, "-vh", NULL);
      g_assert_not_reached ();
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("Usage: shuttle *");
}

static void
test_version (void)
{
  if (g_test_subprocess ())
    {
      ShOptions o;

      parse (&o, NULL, "--version", NULL);
      g_assert_not_reached ();
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("shuttle " PACKAGE_VERSION "\n");
}

static void
test_version_short (void)
{
  if (g_test_subprocess ())
    {
      ShOptions o;

      parse (&o, NULL, "-V", NULL);
      g_assert_not_reached ();
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("shuttle " PACKAGE_VERSION "\n");
}

static void
test_error_before_help (void)
{
  /* Arguments are taken in order: an error before --help is reported. */
  assert_parse_fails ("unknown option '--frobnicate'", "--frobnicate", "--help");
}

static void
remove_tmpdir (void)
{
  g_autoptr (GDir) dir = g_dir_open (tmpdir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (tmpdir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (tmpdir);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int rc;

  g_test_init (&argc, &argv, NULL);
  /* Subprocesses (the --help and --version tests) need no files. */
  if (!g_test_subprocess ())
    {
      tmpdir = g_dir_make_tmp ("test-options-XXXXXX", &error);
      g_assert_no_error (error);
    }

  g_test_add_func ("/options/defaults", test_defaults);
  g_test_add_func ("/options/udp", test_udp);
  g_test_add_func ("/options/connect-fidelity", test_connect_fidelity);
  g_test_add_func ("/options/clear-twice", test_clear_twice);
  g_test_add_func ("/options/no-subnets", test_no_subnets);
  g_test_add_func ("/options/subnets", test_subnets);
  g_test_add_func ("/options/bad-subnets", test_bad_subnets);
  g_test_add_func ("/options/unknown", test_unknown_options);
  g_test_add_func ("/options/missing-arguments", test_missing_arguments);
  g_test_add_func ("/options/remote/forms", test_remote_forms);
  g_test_add_func ("/options/remote/option-forms", test_remote_option_forms);
  g_test_add_func ("/options/remote/bad", test_remote_bad);
  g_test_add_func ("/options/listen", test_listen);
  g_test_add_func ("/options/socks", test_socks);
  g_test_add_func ("/options/run", test_run);
  g_test_add_func ("/options/verbose", test_verbose);
  g_test_add_func ("/options/flags", test_flags);
  g_test_add_func ("/options/reconnect", test_reconnect);
  g_test_add_func ("/options/commands", test_commands);
  g_test_add_func ("/options/connect-timeout", test_connect_timeout);
  g_test_add_func ("/options/exclude", test_exclude);
  g_test_add_func ("/options/exclude-from", test_exclude_from);
  g_test_add_func ("/options/argfile/expand", test_argfile);
  g_test_add_func ("/options/argfile/errors", test_argfile_errors);
  g_test_add_func ("/options/argfile/limits", test_argfile_limits);
  g_test_add_func ("/options/argfile/depth", test_argfile_depth);
  g_test_add_func ("/options/names-and-routes", test_names_and_routes);
  g_test_add_func ("/options/help", test_help);
  g_test_add_func ("/options/help-short", test_help_short);
  g_test_add_func ("/options/transport", test_transport);
  g_test_add_func ("/options/version", test_version);
  g_test_add_func ("/options/version-short", test_version_short);
  g_test_add_func ("/options/error-before-help", test_error_before_help);

  rc = g_test_run ();
  if (tmpdir != NULL)
    remove_tmpdir ();
  g_free (tmpdir);
  return rc;
}
