/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the rule for the engine's account
 * (nm-plugin/shared/nm-shuttle-user.c). */
#include "config.h"

#include <sys/stat.h>

#include "nm-shuttle-user.h"

#define FILE_NAME "/etc/shuttle/nm-users.conf"

/* The name chosen, or "ERROR: message". */
static char *
name_of (const char *const *owners, const char *local_user, gboolean *system_wide)
{
  g_autoptr (GError) error = NULL;
  const char *name = sh_nm_engine_user_name (owners, local_user, system_wide, &error);

  if (name == NULL)
    return g_strconcat ("ERROR: ", error->message, NULL);
  return g_strdup (name);
}

static void
test_name (void)
{
  const char *const alice[] = { "alice", NULL };
  const char *const two[] = { "alice", "bob", NULL };
  const char *const none[] = { NULL };
  gboolean sw = FALSE;
  char *s;

  /* the owner, with or without a matching local-user */
  s = name_of (alice, NULL, &sw);
  g_assert_cmpstr (s, ==, "alice");
  g_assert_false (sw);
  g_free (s);
  s = name_of (alice, "alice", &sw);
  g_assert_cmpstr (s, ==, "alice");
  g_free (s);
  /* local-user naming another account than the owner */
  s = name_of (alice, "bob", &sw);
  g_assert_cmpstr (s, ==, "ERROR: local-user 'bob' is not the profile's owner 'alice'");
  g_free (s);
  /* several owners: refused even when local-user names one of them */
  s = name_of (two, "alice", &sw);
  g_assert_true (g_str_has_prefix (s, "ERROR: the profile belongs to several users ('alice', "
                                      "'bob')"));
  g_free (s);
  /* system-wide: local-user, which the account check then judges */
  s = name_of (NULL, "bob", &sw);
  g_assert_cmpstr (s, ==, "bob");
  g_assert_true (sw);
  g_free (s);
  s = name_of (none, "bob", &sw);
  g_assert_cmpstr (s, ==, "bob");
  g_assert_true (sw);
  g_free (s);
  s = name_of (NULL, NULL, &sw);
  g_assert_true (g_str_has_prefix (s, "ERROR: a system-wide profile must name the local user"));
  g_free (s);
}

static char *
check (const char *name, guint32 uid, const char *shell, gboolean system_wide,
       const char *const *allowed)
{
  ShNmAccount a = { name, uid, shell };
  g_autoptr (GError) error = NULL;

  if (!sh_nm_engine_user_check (&a, system_wide, 1000, allowed, FILE_NAME, &error))
    return g_strconcat ("ERROR: ", error->message, NULL);
  return g_strdup ("ok");
}

#define ASSERT_CHECK(want, ...)                                                                    \
  G_STMT_START                                                                                     \
  {                                                                                                \
    g_autofree char *got_ = check (__VA_ARGS__);                                                   \
    if (!g_str_has_prefix (got_, want))                                                            \
      g_error ("check (%s): got '%s', want '%s...'", #__VA_ARGS__, got_, want);                    \
  }                                                                                                \
  G_STMT_END

static void
test_account (void)
{
  const char *const list[] = { "bob", "carol", NULL };

  /* the owner's own profile: any ordinary account */
  ASSERT_CHECK ("ok", "alice", 1000, "/bin/bash", FALSE, NULL);
  ASSERT_CHECK ("ok", "alice", 60001, "", FALSE, NULL);
  ASSERT_CHECK ("ok", "alice", 1001, NULL, FALSE, NULL);
  /* never root, never a system account, owner or not */
  ASSERT_CHECK ("ERROR: account 'root' is root", "root", 0, "/bin/bash", FALSE, NULL);
  ASSERT_CHECK ("ERROR: account 'daemon' is a system account (uid 1 is below UID_MIN 1000)",
                "daemon", 1, "/usr/sbin/nologin", FALSE, NULL);
  ASSERT_CHECK ("ERROR: account 'svc' is a system account (uid 999 is below UID_MIN 1000)", "svc",
                999, "/bin/sh", FALSE, NULL);
  ASSERT_CHECK ("ERROR: account 'nobody' is a system account (its shell is /usr/sbin/nologin)",
                "nobody", 65534, "/usr/sbin/nologin", FALSE, NULL);
  ASSERT_CHECK ("ERROR: account 'x' is a system account (its shell is /bin/false)", "x", 2000,
                "/bin/false", FALSE, NULL);
  ASSERT_CHECK ("ERROR: account 'x' is a system account (its shell is nologin)", "x", 2000,
                "nologin", FALSE, NULL);
  /* an admin cannot allow a system account either */
  const char *const daemon_listed[] = { "daemon", NULL };
  ASSERT_CHECK ("ERROR: account 'daemon' is a system account", "daemon", 1, "/usr/sbin/nologin",
                TRUE, daemon_listed);
  /* system-wide: only what the administrator listed */
  ASSERT_CHECK ("ok", "bob", 1002, "/bin/bash", TRUE, list);
  ASSERT_CHECK ("ERROR: system-wide profile: 'alice' is not allowed in " FILE_NAME, "alice", 1000,
                "/bin/bash", TRUE, list);
  ASSERT_CHECK ("ERROR: system-wide profile: 'bob' is not allowed in " FILE_NAME, "bob", 1002,
                "/bin/bash", TRUE, NULL);
  /* a name that merely starts like a listed one */
  ASSERT_CHECK ("ERROR: system-wide profile: 'bo' is not allowed", "bo", 1003, "/bin/sh", TRUE,
                list);
}

static void
test_login_defs (void)
{
  g_assert_cmpuint (sh_nm_login_defs_uid_min (NULL), ==, 1000);
  g_assert_cmpuint (sh_nm_login_defs_uid_min (""), ==, 1000);
  g_assert_cmpuint (sh_nm_login_defs_uid_min ("# UID_MIN 5\nUID_MAX 60000\n"), ==, 1000);
  g_assert_cmpuint (sh_nm_login_defs_uid_min ("UID_MIN\t\t\t 500\nUID_MAX 60000\n"), ==, 500);
  g_assert_cmpuint (sh_nm_login_defs_uid_min ("  UID_MIN   2000"), ==, 2000);
  g_assert_cmpuint (sh_nm_login_defs_uid_min ("SYS_UID_MIN 100\nUID_MIN 1500\n"), ==, 1500);
  /* not a decimal number in range: the default, never 0 */
  g_assert_cmpuint (sh_nm_login_defs_uid_min ("UID_MIN 0\n"), ==, 1000);
  g_assert_cmpuint (sh_nm_login_defs_uid_min ("UID_MIN lots\n"), ==, 1000);
  g_assert_cmpuint (sh_nm_login_defs_uid_min ("UID_MIN -1\n"), ==, 1000);
  g_assert_cmpuint (sh_nm_login_defs_uid_min ("UID_MIN 99999999999\n"), ==, 1000);
  g_assert_cmpuint (sh_nm_login_defs_uid_min ("UID_MINIMUM 5\n"), ==, 1000);
}

static void
test_allowed_parse (void)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) names = NULL;
  g_autoptr (GString) many = g_string_new (NULL);

  names = sh_nm_allowed_users_parse ("# who may run system-wide Shuttle profiles\n\n"
                                     "bob\n  carol  \n\t\n#dave\nerin.f_g-h",
                                     &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (names), ==, 3);
  g_assert_cmpstr (names[0], ==, "bob");
  g_assert_cmpstr (names[1], ==, "carol");
  g_assert_cmpstr (names[2], ==, "erin.f_g-h");
  g_clear_pointer (&names, g_strfreev);

  names = sh_nm_allowed_users_parse ("", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length (names), ==, 0);
  g_clear_pointer (&names, g_strfreev);

  static const char *const bad[] = { "bob\nal ice\n", "-bob\n", "bob,carol\n", "b$b\n",
                                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      names = sh_nm_allowed_users_parse (bad[i], &error);
      g_assert_null (names);
      g_assert_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_FILE);
      g_assert_true (g_str_has_prefix (error->message, "line "));
      g_clear_error (&error);
    }
  for (guint i = 0; i <= SH_NM_USERS_MAX; i++)
    g_string_append_printf (many, "u%u\n", i);
  names = sh_nm_allowed_users_parse (many->str, &error);
  g_assert_null (names);
  g_assert_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_FILE);
}

static void
test_admin_file (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (sh_nm_admin_file_check ("f", 0, S_IFREG | 0644, FALSE, &error));
  g_assert_true (sh_nm_admin_file_check ("f", 0, S_IFREG | 0600, FALSE, &error));
  g_assert_true (sh_nm_admin_file_check ("d", 0, S_IFDIR | 0755, TRUE, &error));
  g_assert_no_error (error);

  g_assert_false (sh_nm_admin_file_check ("f", 1000, S_IFREG | 0644, FALSE, &error));
  g_assert_cmpstr (error->message, ==, "f is not owned by root (uid 1000)");
  g_clear_error (&error);
  g_assert_false (sh_nm_admin_file_check ("f", 0, S_IFREG | 0664, FALSE, &error));
  g_assert_cmpstr (error->message, ==, "f is writable by its group or by others (mode 0664)");
  g_clear_error (&error);
  g_assert_false (sh_nm_admin_file_check ("f", 0, S_IFREG | 0646, FALSE, &error));
  g_clear_error (&error);
  g_assert_false (sh_nm_admin_file_check ("d", 0, S_IFDIR | 01777, TRUE, &error));
  g_clear_error (&error);
  g_assert_false (sh_nm_admin_file_check ("f", 0, S_IFLNK | 0777, FALSE, &error));
  g_clear_error (&error);
  g_assert_false (sh_nm_admin_file_check ("f", 0, S_IFDIR | 0755, FALSE, &error));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nm-user/name", test_name);
  g_test_add_func ("/nm-user/account", test_account);
  g_test_add_func ("/nm-user/login-defs", test_login_defs);
  g_test_add_func ("/nm-user/allowed-parse", test_allowed_parse);
  g_test_add_func ("/nm-user/admin-file", test_admin_file);
  return g_test_run ();
}
