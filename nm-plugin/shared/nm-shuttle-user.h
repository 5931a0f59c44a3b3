/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-user.h — who the engine of a NetworkManager profile may run as.
 *
 * The engine runs with an account's HOME, ~/.ssh and ssh-agent: choosing the
 * account chooses whose ssh identity the tunnel uses. The rule:
 *   - a profile with one `user:` entry in connection.permissions belongs to
 *     that user, and the engine runs as that user (local-user, when set,
 *     must name the same account);
 *   - a system-wide profile (no `user:` entry) runs as its local-user only
 *     when an administrator listed that account in the allow-list file
 *     (SH_NM_USERS_FILE, one user name a line); and no ssh-agent socket is
 *     handed over to it;
 *   - a profile with several `user:` entries is refused: NetworkManager does
 *     not tell the plugin who activated it, so one of them could borrow
 *     another's identity;
 *   - never root, never a system account (uid below UID_MIN of
 *     /etc/login.defs, or a nologin/false shell).
 *
 * Pure: strings and numbers in, a decision or GError out; no passwd lookup,
 * no file access. nm-shuttle-service does the lookups and reads the files;
 * tests/nm/test-nm-user.c judges every branch.
 *
 * Errors are SH_NM_USER_ERROR with a one-line message fit for `nmcli con up`
 * ("local-user 'bob' is not the profile's owner 'alice'"). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SH_NM_USER_ERROR (sh_nm_user_error_quark ())
GQuark sh_nm_user_error_quark (void);

typedef enum
{
  SH_NM_USER_ERROR_NO_USER,     /* system-wide profile without local-user */
  SH_NM_USER_ERROR_SEVERAL,     /* several user: permissions */
  SH_NM_USER_ERROR_NOT_OWNER,   /* local-user is not the profile's owner */
  SH_NM_USER_ERROR_ROOT,        /* uid 0 */
  SH_NM_USER_ERROR_SYSTEM,      /* a system account */
  SH_NM_USER_ERROR_NOT_ALLOWED, /* system-wide, and not in the allow-list */
  SH_NM_USER_ERROR_FILE,        /* the allow-list cannot be trusted or parsed */
} ShNmUserError;

/* The administrator's allow-list for system-wide profiles. */
#define SH_NM_USERS_FILE "/etc/shuttle/nm-users.conf"
#define SH_NM_LOGIN_DEFS "/etc/login.defs"

/* The default of UID_MIN when /etc/login.defs does not say (shadow's). */
#define SH_NM_UID_MIN_DEFAULT 1000
/* Hard limits on the allow-list file. */
#define SH_NM_USERS_MAX 1024
#define SH_NM_USERS_FILE_MAX (64 * 1024)

/* The account name the engine is to run as. @owners: the `user:` entries of
 * connection.permissions, NULL-terminated (NULL: none); @local_user: the
 * profile's local-user or NULL. Sets *@system_wide when there is no owner.
 * The result points into @owners or is @local_user; NULL with @error. */
const char *sh_nm_engine_user_name (const char *const *owners, const char *local_user,
                                    gboolean *system_wide, GError **error);

/* An account as the passwd database has it. */
typedef struct
{
  const char *name;
  guint32 uid;
  const char *shell; /* NULL or "": /bin/sh, as passwd(5) says */
} ShNmAccount;

/* Whether the engine may run as @account: not root, not a system account
 * (uid < @uid_min, or a shell whose last component is "nologin" or
 * "false"), and, when @system_wide, listed in @allowed (NULL: empty), the
 * list read from @allowed_file (named in the message). */
gboolean sh_nm_engine_user_check (const ShNmAccount *account, gboolean system_wide, guint32 uid_min,
                                  const char *const *allowed, const char *allowed_file,
                                  GError **error);

/* UID_MIN from the text of /etc/login.defs (decimal), or
 * SH_NM_UID_MIN_DEFAULT when @text is NULL, has no such line, or its value
 * is not a number in 1..G_MAXINT32. */
guint32 sh_nm_login_defs_uid_min (const char *text);

/* The allow-list file's text: one user name a line, blank lines and lines
 * starting with '#' ignored, spaces around a name trimmed. A new
 * NULL-terminated vector, or NULL with @error naming the first bad line (not
 * a login name of [A-Za-z0-9._-], at most 32, not starting with '-') or when
 * there are more than SH_NM_USERS_MAX names. */
char **sh_nm_allowed_users_parse (const char *text, GError **error);

/* Whether a file with owner @uid and @mode (st_mode) may be trusted as an
 * administrator's setting: a regular file owned by root, writable by
 * nobody else. @what names it in the message ("/etc/shuttle/nm-users.conf").
 * The same for its directory with @is_dir. */
gboolean sh_nm_admin_file_check (const char *what, guint32 uid, guint32 mode, gboolean is_dir,
                                 GError **error);

G_END_DECLS
