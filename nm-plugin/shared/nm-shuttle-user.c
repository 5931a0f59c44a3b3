/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-user.c — the rule for the engine's account
 * (nm-shuttle-user.h). */
#include "config.h"

#include "nm-shuttle-user.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gi18n-lib.h>

#include "nm-shuttle-data.h"

G_DEFINE_QUARK (sh - nm - user - error - quark, sh_nm_user_error)

const char *
sh_nm_engine_user_name (const char *const *owners, const char *local_user, gboolean *system_wide,
                        GError **error)
{
  guint n = owners != NULL ? g_strv_length ((char **) owners) : 0;

  *system_wide = n == 0;
  if (n > 1)
    {
      g_autofree char *all = g_strjoinv ("', '", (char **) owners);
      g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_SEVERAL,
                   _ ("the profile belongs to several users ('%s'): a Shuttle profile must have "
                      "one user in connection.permissions, or none"),
                   all);
      return NULL;
    }
  if (n == 1)
    {
      if (local_user != NULL && !g_str_equal (local_user, owners[0]))
        {
          g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_NOT_OWNER,
                       _ ("local-user '%s' is not the profile's owner '%s'"), local_user,
                       owners[0]);
          return NULL;
        }
      return owners[0];
    }
  if (local_user == NULL)
    {
      g_set_error_literal (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_NO_USER,
                           _ ("a system-wide profile must name the local user the tunnel runs "
                              "as (vpn.data local-user=NAME)"));
      return NULL;
    }
  return local_user;
}

static gboolean
no_login_shell (const char *shell)
{
  const char *base;

  if (shell == NULL || shell[0] == '\0')
    return FALSE; /* /bin/sh */
  base = strrchr (shell, '/');
  base = base != NULL ? base + 1 : shell;
  return g_str_equal (base, "nologin") || g_str_equal (base, "false");
}

gboolean
sh_nm_engine_user_check (const ShNmAccount *account, gboolean system_wide, guint32 uid_min,
                         const char *const *allowed, const char *allowed_file, GError **error)
{
  if (account->uid == 0)
    {
      g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_ROOT,
                   _ ("account '%s' is root: the tunnel never runs as root"), account->name);
      return FALSE;
    }
  if (account->uid < uid_min)
    {
      g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_SYSTEM,
                   _ ("account '%s' is a system account (uid %u is below UID_MIN %u)"),
                   account->name, account->uid, uid_min);
      return FALSE;
    }
  if (no_login_shell (account->shell))
    {
      g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_SYSTEM,
                   _ ("account '%s' is a system account (its shell is %s)"), account->name,
                   account->shell);
      return FALSE;
    }
  if (system_wide && (allowed == NULL || !g_strv_contains (allowed, account->name)))
    {
      g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_NOT_ALLOWED,
                   _ ("system-wide profile: '%s' is not allowed in %s (give the profile an "
                      "owner with connection.permissions user:%s, or ask an administrator to "
                      "list the account there)"),
                   account->name, allowed_file, account->name);
      return FALSE;
    }
  return TRUE;
}

guint32
sh_nm_login_defs_uid_min (const char *text)
{
  g_auto (GStrv) lines = NULL;

  if (text == NULL)
    return SH_NM_UID_MIN_DEFAULT;
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      g_auto (GStrv) words = NULL;
      guint64 v;

      g_strdelimit (*l, "\t", ' ');
      words = g_strsplit (g_strstrip (*l), " ", -1);
      if (!g_str_equal (words[0] != NULL ? words[0] : "", "UID_MIN"))
        continue;
      for (char **w = words + 1; *w != NULL; w++)
        {
          if ((*w)[0] == '\0')
            continue;
          if (g_ascii_string_to_unsigned (*w, 10, 1, G_MAXINT32, &v, NULL))
            return (guint32) v;
          break;
        }
    }
  return SH_NM_UID_MIN_DEFAULT;
}

char **
sh_nm_allowed_users_parse (const char *text, GError **error)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (GError) local = NULL;
      char *name = g_strstrip (lines[i]);

      if (name[0] == '\0' || name[0] == '#')
        continue;
      /* The same rule as vpn.data's local-user: one definition of a name. */
      if (!sh_nm_data_check_item (SH_NM_KEY_LOCAL_USER, name, &local))
        {
          g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_FILE,
                       _ ("line %u is not a user name"), i + 1);
          return NULL;
        }
      if (++n > SH_NM_USERS_MAX)
        {
          g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_FILE, _ ("more than %u names"),
                       SH_NM_USERS_MAX);
          return NULL;
        }
      g_strv_builder_add (b, name);
    }
  return g_strv_builder_end (b);
}

gboolean
sh_nm_admin_file_check (const char *what, guint32 uid, guint32 mode, gboolean is_dir,
                        GError **error)
{
  if (is_dir ? !S_ISDIR (mode) : !S_ISREG (mode))
    {
      g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_FILE,
                   is_dir ? _ ("%s is not a directory") : _ ("%s is not a regular file"), what);
      return FALSE;
    }
  if (uid != 0)
    {
      g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_FILE,
                   _ ("%s is not owned by root (uid %u)"), what, uid);
      return FALSE;
    }
  if ((mode & (S_IWGRP | S_IWOTH)) != 0)
    {
      g_set_error (error, SH_NM_USER_ERROR, SH_NM_USER_ERROR_FILE,
                   _ ("%s is writable by its group or by others (mode %04o)"), what, mode & 07777);
      return FALSE;
    }
  return TRUE;
}
