/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-auth-dialog — finds or asks for the secret a Shuttle profile
 * needs, for NetworkManager's secret agents (nm-applet, gnome-shell, nmcli).
 *
 * NM's agent starts it as the desktop user with
 *   -u UUID -n NAME -s SERVICE [-i] [-r] [-t HINT]... [--external-ui-mode]
 * and writes the profile's data and secrets on stdin (vpn-details.h).
 * Which secret is needed follows auth-method: password -> "password";
 * key -> "key-passphrase" when the key file is encrypted; agent -> none.
 * A secret comes from stdin (NM-stored), else from the keyring (agent-owned
 * secrets, libsecret with NM's own schema), else, with -i, from the user.
 *
 * Normal mode prints "KEY\nVALUE\n" pairs, then "\n\n", and waits for the
 * agent to close stdin (it kills us otherwise while reading). External-UI
 * mode prints a keyfile describing what to ask; the agent draws the dialog.
 * Secrets go to stdout only; never to argv, the environment or stderr.
 *
 * An unknown server: the service sends its host key in the hint
 * "x-shuttle-host-key:TYPE BASE64" and asks for the secret named after
 * that key (sh_host_key_accept_secret()). We show the fingerprint we
 * compute from the key ourselves, as ssh does, and answer "yes" only when
 * the user says so; the answer is never taken from a stored value.
 *
 * A question of the server (keyboard-interactive: a one-time code): the
 * hint "x-shuttle-prompt:TEXT" carries its words, another hint names the
 * answer's secret (SH_NM_SECRET_ANSWER...). We show the words as plain
 * text, cleaned again (they are the server's), with an empty hidden field:
 * never a stored value, never the keyring, and we store nothing. ssh tells
 * its askpass nothing about echo, so there is no echo bit to honour.
 */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <NetworkManager.h>
#include <glib/gi18n-lib.h>
#include <gtk/gtk.h>
#include <libnma/nma-vpn-password-dialog.h>
#include <libsecret/secret.h>

#include "hostkey.h"
#include "keyfile-check.h"
#include "nm-shuttle-data.h"
#include "vpn-details.h"

#define UI_GROUP "VPN Plugin UI"
#define VPN_MSG_HINT "x-vpn-message:"
#define INPUT_MAX (1024 * 1024)

/* NM's own schema: what nm-applet and gnome-shell store agent-owned VPN
 * secrets under, so a secret saved by them is found here. */
static const SecretSchema nm_schema = {
  "org.freedesktop.NetworkManager.Connection",
  SECRET_SCHEMA_DONT_MATCH_NAME,
  {
      { "connection-uuid", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "setting-name", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "setting-key", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
  },
};

typedef struct
{
  const char *name;  /* "password" / "key-passphrase" */
  const char *label; /* with a mnemonic, for our own dialog */
  const char *plain; /* without, for external UIs (nmcli prints it as is) */
  gboolean needed;
  char *value; /* found or entered; freed with sh_secret_free() */
} Secret;

typedef struct
{
  char *key;    /* from the hint: "TYPE BASE64" */
  char *secret; /* the answer's name, from the key */
  char *fingerprint;
  gboolean asked; /* the service asks for exactly that answer */
  gboolean accepted;
} HostKeyQuestion;

typedef struct
{
  char *secret; /* the answer's name, from a hint */
  char *text;   /* the server's words, cleaned */
  char *value;
} ServerQuestion;

static G_GNUC_PRINTF (1, 2) void die (const char *format, ...)
{
  va_list ap;

  fputs ("nm-shuttle-auth-dialog: ", stderr);
  va_start (ap, format);
  vfprintf (stderr, format, ap);
  va_end (ap);
  fputc ('\n', stderr);
  exit (EXIT_FAILURE);
}

/* Reads stdin up to the DONE line. NM keeps stdin open afterwards (closing
 * it is how it says "quit"), so we must not wait for EOF here. */
static GString *
read_input (void)
{
  GString *buf = g_string_new (NULL);
  char chunk[4096];

  while (!sh_vpn_details_complete (buf->str, buf->len))
    {
      ssize_t n = read (STDIN_FILENO, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      if (buf->len + (gsize) n > INPUT_MAX)
        die ("%s", _ ("input larger than 1 MiB"));
      g_string_append_len (buf, chunk, n);
    }
  explicit_bzero (chunk, sizeof chunk);
  return buf;
}

static NMSettingSecretFlags
flags_of (GHashTable *data, const char *name)
{
  g_autofree char *key = g_strdup_printf ("%s-flags", name);
  const char *v = g_hash_table_lookup (data, key);
  guint64 f = 0;

  if (v == NULL || !g_ascii_string_to_unsigned (v, 10, 0, 7, &f, NULL))
    return NM_SETTING_SECRET_FLAG_NONE;
  return (NMSettingSecretFlags) f;
}

static char *
keyring_lookup (const char *uuid, const char *name)
{
  g_autoptr (GError) error = NULL;
  char *pw = secret_password_lookup_sync (&nm_schema, NULL, &error, "connection-uuid", uuid,
                                          "setting-name", NM_SETTING_VPN_SETTING_NAME,
                                          "setting-key", name, NULL);
  char *copy;

  /* No keyring (no session bus, locked...) is not an error: we ask, or the
   * agent reports the secret missing. */
  if (pw == NULL)
    return NULL;
  copy = g_strdup (pw);
  secret_password_free (pw);
  return copy;
}

/* Hints name what the service found missing; they override our own
 * reading of the profile. */
static char *
apply_hints (char **hints, Secret *secrets, gsize n, HostKeyQuestion *hk, ServerQuestion *q)
{
  char *prompt = NULL;

  for (char **h = hints; h != NULL && *h != NULL; h++)
    if (g_str_has_prefix (*h, SH_NM_HINT_HOST_KEY) && hk->key == NULL)
      {
        hk->key = g_strdup (*h + strlen (SH_NM_HINT_HOST_KEY));
        hk->secret = sh_host_key_accept_secret (hk->key);
        hk->fingerprint = sh_host_key_fingerprint (hk->key);
        if (hk->secret == NULL || hk->fingerprint == NULL)
          die ("%s", _ ("the service sent a host key that is not one"));
      }
  for (char **h = hints; h != NULL && *h != NULL; h++)
    {
      if (hk->secret != NULL && strcmp (*h, hk->secret) == 0)
        {
          hk->asked = TRUE;
          continue;
        }
      if (sh_nm_is_answer_secret (*h))
        {
          if (q->secret == NULL)
            q->secret = g_strdup (*h);
          continue;
        }
      if (g_str_has_prefix (*h, SH_NM_HINT_PROMPT))
        {
          if (q->text == NULL)
            q->text = sh_nm_prompt_clean (*h + strlen (SH_NM_HINT_PROMPT));
          continue;
        }
      if (g_str_has_prefix (*h, VPN_MSG_HINT))
        {
          if (prompt == NULL)
            prompt = g_strdup (*h + strlen (VPN_MSG_HINT));
          continue;
        }
      for (gsize i = 0; i < n; i++)
        if (strcmp (*h, secrets[i].name) == 0)
          secrets[i].needed = TRUE;
    }
  return prompt;
}

static void
decide_needed (GHashTable *data, Secret *password, Secret *passphrase)
{
  const char *auth = g_hash_table_lookup (data, SH_NM_KEY_AUTH_METHOD);

  if (g_strcmp0 (auth, "password") == 0)
    password->needed
        = !(flags_of (data, SH_NM_SECRET_PASSWORD) & NM_SETTING_SECRET_FLAG_NOT_REQUIRED);
  else if (g_strcmp0 (auth, "key") == 0)
    passphrase->needed
        = !(flags_of (data, SH_NM_SECRET_KEY_PASSPHRASE) & NM_SETTING_SECRET_FLAG_NOT_REQUIRED)
          && sh_key_file_needs_passphrase (g_hash_table_lookup (data, SH_NM_KEY_KEY_FILE));
}

static void
find_existing (GHashTable *data, GHashTable *stdin_secrets, const char *uuid, Secret *s)
{
  const char *given;

  if (!s->needed || (flags_of (data, s->name) & NM_SETTING_SECRET_FLAG_NOT_SAVED))
    return;
  given = g_hash_table_lookup (stdin_secrets, s->name);
  if (given != NULL && given[0] != '\0')
    s->value = g_strdup (given);
  else
    s->value = keyring_lookup (uuid, s->name);
}

/* ---- normal mode ---- */

/* The key type as ssh -l names it: "ED25519", "ECDSA", "RSA". */
static const char *
key_kind (const char *key)
{
  if (g_str_has_prefix (key, "ssh-ed25519"))
    return "ED25519";
  if (g_str_has_prefix (key, "ecdsa-"))
    return "ECDSA";
  if (g_str_has_prefix (key, "ssh-rsa") || g_str_has_prefix (key, "rsa-"))
    return "RSA";
  return "";
}

static char *
host_key_text (const HostKeyQuestion *hk, const char *host)
{
  /* TRANSLATORS: as ssh words it: the server, the key type (ED25519...),
     its fingerprint (SHA256:...) */
  return g_strdup_printf (_ ("The authenticity of host “%s” can’t be established.\n"
                             "Its %s key fingerprint is %s.\n"
                             "Compare it with the one the server’s administrator gave you. "
                             "Trust this key and remember it for this connection?"),
                          host ? host : "?", key_kind (hk->key), hk->fingerprint);
}

static gboolean
ask_host_key (HostKeyQuestion *hk, const char *host)
{
  g_autofree char *text = host_key_text (hk, host);
  GtkWidget *dialog;
  int response;

  if (!gtk_init_check (NULL, NULL))
    die ("%s", _ ("cannot open a display to ask for the secret"));
  dialog = gtk_message_dialog_new (NULL, 0, GTK_MESSAGE_WARNING, GTK_BUTTONS_NONE, "%s",
                                   _ ("Unknown server"));
  gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", text);
  gtk_window_set_title (GTK_WINDOW (dialog), _ ("Authenticate VPN"));
  gtk_dialog_add_buttons (GTK_DIALOG (dialog), _ ("_Cancel"), GTK_RESPONSE_CANCEL, _ ("_Trust"),
                          GTK_RESPONSE_ACCEPT, NULL);
  /* Never one click (Enter) away: the safe answer is the default. */
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_CANCEL);
  response = gtk_dialog_run (GTK_DIALOG (dialog));
  gtk_widget_destroy (dialog);
  return response == GTK_RESPONSE_ACCEPT;
}

static gboolean
ask_user (const char *prompt, Secret *password, Secret *passphrase)
{
  NMAVpnPasswordDialog *dialog;
  gboolean ok;

  if (!gtk_init_check (NULL, NULL))
    die ("%s", _ ("cannot open a display to ask for the secret"));
  dialog = NMA_VPN_PASSWORD_DIALOG (
      nma_vpn_password_dialog_new (_ ("Authenticate VPN"), prompt, NULL));
  /* The first field is the one shown; label it after the secret asked. */
  nma_vpn_password_dialog_set_show_password (dialog, password->needed || passphrase->needed);
  nma_vpn_password_dialog_set_show_password_secondary (dialog, FALSE);
  nma_vpn_password_dialog_set_show_password_ternary (dialog, FALSE);
  if (password->needed)
    {
      nma_vpn_password_dialog_set_password_label (dialog, password->label);
      nma_vpn_password_dialog_set_password (dialog, password->value ? password->value : "");
    }
  else
    {
      nma_vpn_password_dialog_set_password_label (dialog, passphrase->label);
      nma_vpn_password_dialog_set_password (dialog, passphrase->value ? passphrase->value : "");
    }
  gtk_widget_show (GTK_WIDGET (dialog));
  ok = nma_vpn_password_dialog_run_and_block (dialog);
  if (ok)
    {
      Secret *s = password->needed ? password : passphrase;

      sh_secret_free (s->value);
      s->value = g_strdup (nma_vpn_password_dialog_get_password (dialog));
    }
  gtk_widget_destroy (GTK_WIDGET (dialog));
  return ok;
}

/* The server's question: its words in a plain label (no markup, no
 * mnemonic: they are the server's), an empty hidden field. */
static gboolean
ask_question (ServerQuestion *q, const char *host)
{
  GtkWidget *dialog, *area, *grid, *intro, *label, *entry;
  g_autofree char *head = NULL;
  int response;

  if (!gtk_init_check (NULL, NULL))
    die ("%s", _ ("cannot open a display to ask for the secret"));
  dialog = gtk_dialog_new_with_buttons (_ ("Authenticate VPN"), NULL, 0, _ ("_Cancel"),
                                        GTK_RESPONSE_CANCEL, _ ("_OK"), GTK_RESPONSE_OK, NULL);
  gtk_window_set_resizable (GTK_WINDOW (dialog), FALSE);
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_OK);
  area = gtk_dialog_get_content_area (GTK_DIALOG (dialog));
  grid = gtk_grid_new ();
  gtk_grid_set_row_spacing (GTK_GRID (grid), 12);
  gtk_grid_set_column_spacing (GTK_GRID (grid), 12);
  gtk_container_set_border_width (GTK_CONTAINER (grid), 12);
  /* TRANSLATORS: %s is the ssh server; its question follows in the dialog */
  head = g_strdup_printf (_ ("The server %s asks:"), host ? host : "?");
  intro = gtk_label_new (head);
  gtk_label_set_xalign (GTK_LABEL (intro), 0);
  gtk_grid_attach (GTK_GRID (grid), intro, 0, 0, 2, 1);
  label = gtk_label_new (NULL);
  gtk_label_set_text (GTK_LABEL (label), q->text);
  gtk_label_set_use_markup (GTK_LABEL (label), FALSE);
  gtk_label_set_use_underline (GTK_LABEL (label), FALSE);
  gtk_label_set_line_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 50);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  entry = gtk_entry_new ();
  gtk_entry_set_visibility (GTK_ENTRY (entry), FALSE);
  gtk_entry_set_activates_default (GTK_ENTRY (entry), TRUE);
  gtk_entry_set_max_length (GTK_ENTRY (entry), SH_NM_SECRET_MAX);
  gtk_widget_set_hexpand (entry, TRUE);
  gtk_grid_attach (GTK_GRID (grid), label, 0, 1, 1, 1);
  gtk_grid_attach (GTK_GRID (grid), entry, 1, 1, 1, 1);
  gtk_container_add (GTK_CONTAINER (area), grid);
  gtk_widget_show_all (dialog);
  gtk_widget_grab_focus (entry);
  response = gtk_dialog_run (GTK_DIALOG (dialog));
  if (response == GTK_RESPONSE_OK)
    q->value = g_strdup (gtk_entry_get_text (GTK_ENTRY (entry)));
  gtk_widget_destroy (dialog);
  return response == GTK_RESPONSE_OK;
}

/* The agent closes stdin (or writes QUIT) once it has read our answer. */
static void
wait_for_quit (void)
{
  char c;
  GString *seen = g_string_new (NULL);

  for (;;)
    {
      ssize_t n = read (STDIN_FILENO, &c, 1);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_string_append_c (seen, c);
      if (strstr (seen->str, "QUIT") != NULL || seen->len > 64)
        break;
    }
  g_string_free (seen, TRUE);
}

static void
print_pairs (Secret *secrets, gsize n, const HostKeyQuestion *hk, const ServerQuestion *q)
{
  for (gsize i = 0; i < n; i++)
    if (secrets[i].needed && secrets[i].value != NULL)
      printf ("%s\n%s\n", secrets[i].name, secrets[i].value);
  if (hk->asked && hk->accepted)
    printf ("%s\nyes\n", hk->secret);
  if (q->value != NULL)
    printf ("%s\n%s\n", q->secret, q->value);
  printf ("\n\n");
  fflush (stdout);
}

/* ---- external UI mode ---- */

static void
print_external_ui (const char *name, const char *prompt, gboolean interactive, gboolean retry,
                   Secret *secrets, gsize n, const HostKeyQuestion *hk, const ServerQuestion *q)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *title = g_strdup_printf (_ ("Authenticate VPN %s"), name);
  g_autofree char *text = NULL;
  gsize len = 0;

  g_key_file_set_integer (kf, UI_GROUP, "Version", 2);
  g_key_file_set_string (kf, UI_GROUP, "Description", prompt);
  g_key_file_set_string (kf, UI_GROUP, "Title", title);
  for (gsize i = 0; i < n; i++)
    {
      Secret *s = &secrets[i];

      if (!s->needed)
        continue;
      g_key_file_set_string (kf, s->name, "Value", s->value != NULL ? s->value : "");
      g_key_file_set_string (kf, s->name, "Label", s->plain);
      g_key_file_set_boolean (kf, s->name, "IsSecret", TRUE);
      /* Ask when allowed and either nothing is known or NM says the known
       * value failed (-r). */
      g_key_file_set_boolean (kf, s->name, "ShouldAsk", interactive && (s->value == NULL || retry));
    }
  if (hk->asked)
    {
      /* nmcli asks only for secrets: the answer is one, and always asked. */
      g_key_file_set_string (kf, hk->secret, "Value", "");
      g_key_file_set_string (kf, hk->secret, "Label", _ ("Type yes to trust this key:"));
      g_key_file_set_boolean (kf, hk->secret, "IsSecret", TRUE);
      g_key_file_set_boolean (kf, hk->secret, "ShouldAsk", interactive);
      g_key_file_set_boolean (kf, hk->secret, "ForceEcho", TRUE);
    }
  if (q->secret != NULL)
    {
      /* The server's words as the label (nmcli prints it as the prompt),
       * never a value: always asked, hidden. */
      g_key_file_set_string (kf, q->secret, "Value", "");
      g_key_file_set_string (kf, q->secret, "Label", q->text);
      g_key_file_set_boolean (kf, q->secret, "IsSecret", TRUE);
      g_key_file_set_boolean (kf, q->secret, "ShouldAsk", interactive);
    }
  text = g_key_file_to_data (kf, &len, NULL);
  fwrite (text, 1, len, stdout);
  fflush (stdout);
  explicit_bzero (text, len);
}

int
main (int argc, char **argv)
{
  g_autofree char *uuid = NULL;
  g_autofree char *name = NULL;
  g_autofree char *service = NULL;
  g_auto (GStrv) hints = NULL;
  gboolean interactive = FALSE, retry = FALSE, external_ui = FALSE;
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) data = NULL;
  g_autoptr (GHashTable) stdin_secrets = NULL;
  g_autofree char *prompt = NULL;
  GString *input;
  HostKeyQuestion hk = { 0 };
  ServerQuestion q = { 0 };
  Secret secrets[2] = {
    { SH_NM_SECRET_PASSWORD, NULL, NULL, FALSE, NULL },
    { SH_NM_SECRET_KEY_PASSPHRASE, NULL, NULL, FALSE, NULL },
  };
  const GOptionEntry entries[] = {
    { "uuid", 'u', 0, G_OPTION_ARG_STRING, &uuid, "UUID of the VPN connection", "UUID" },
    { "name", 'n', 0, G_OPTION_ARG_STRING, &name, "Name of the VPN connection", "NAME" },
    { "service", 's', 0, G_OPTION_ARG_STRING, &service, "VPN service type", "SERVICE" },
    { "allow-interaction", 'i', 0, G_OPTION_ARG_NONE, &interactive, "Allow asking the user", NULL },
    { "reprompt", 'r', 0, G_OPTION_ARG_NONE, &retry, "Ask again: the known secret failed", NULL },
    { "hint", 't', 0, G_OPTION_ARG_STRING_ARRAY, &hints, "Secret the service asks for", "HINT" },
    { "external-ui-mode", 0, 0, G_OPTION_ARG_NONE, &external_ui,
      "Describe the dialog on stdout instead of showing it", NULL },
    { NULL },
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  secrets[0].label = _ ("_Password:");
  secrets[1].label = _ ("Key pass_phrase:");
  secrets[0].plain = _ ("Password:");
  secrets[1].plain = _ ("Key passphrase:");

  context = g_option_context_new (_ ("- Shuttle VPN secrets for NetworkManager"));
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    die ("%s", error->message);
  if (uuid == NULL || name == NULL || service == NULL)
    die ("%s", _ ("-u UUID, -n NAME and -s SERVICE are required"));
  if (strcmp (service, SH_NM_SERVICE_TYPE) != 0)
    die (_ ("this dialog is for %s, not %s"), SH_NM_SERVICE_TYPE, service);

  input = read_input ();
  if (!sh_vpn_details_parse (input->str, input->len, &data, &stdin_secrets, &error))
    die ("%s", error->message);
  explicit_bzero (input->str, input->allocated_len);
  g_string_free (input, TRUE);

  prompt = apply_hints (hints, secrets, G_N_ELEMENTS (secrets), &hk, &q);
  if (q.secret != NULL)
    {
      /* Only the server's question: nothing else is asked or handed back
       * with it, and no stored value answers it. */
      if (q.text == NULL || q.text[0] == '\0')
        die ("%s", _ ("the service sent a question without words"));
      for (gsize i = 0; i < G_N_ELEMENTS (secrets); i++)
        secrets[i].needed = FALSE;
      g_free (prompt);
      /* TRANSLATORS: %s is the ssh server, then its question */
      prompt = g_strdup_printf (_ ("The server %s asks: %s"),
                                (char *) g_hash_table_lookup (data, SH_NM_KEY_HOST), q.text);
    }
  else if (hk.asked)
    {
      /* Our own words around the key we checked, not the service's. */
      g_free (prompt);
      prompt = host_key_text (&hk, g_hash_table_lookup (data, SH_NM_KEY_HOST));
    }
  else if (!secrets[0].needed && !secrets[1].needed)
    decide_needed (data, &secrets[0], &secrets[1]);
  if (prompt == NULL)
    prompt = g_strdup_printf (_ ("You need to authenticate to access the Virtual Private "
                                 "Network “%s”."),
                              name);
  for (gsize i = 0; i < G_N_ELEMENTS (secrets); i++)
    find_existing (data, stdin_secrets, uuid, &secrets[i]);

  if (external_ui)
    print_external_ui (name, prompt, interactive, retry, secrets, G_N_ELEMENTS (secrets), &hk, &q);
  else
    {
      gboolean missing = (secrets[0].needed && secrets[0].value == NULL)
                         || (secrets[1].needed && secrets[1].value == NULL);

      if (interactive && (secrets[0].needed || secrets[1].needed) && (missing || retry)
          && !ask_user (prompt, &secrets[0], &secrets[1]))
        {
          for (gsize i = 0; i < G_N_ELEMENTS (secrets); i++)
            sh_secret_free (secrets[i].value);
          return EXIT_FAILURE; /* cancelled */
        }
      if (q.secret != NULL
          && (!interactive || !ask_question (&q, g_hash_table_lookup (data, SH_NM_KEY_HOST))))
        return EXIT_FAILURE; /* cancelled, or nobody to ask */
      if (hk.asked)
        {
          if (!interactive || !ask_host_key (&hk, g_hash_table_lookup (data, SH_NM_KEY_HOST)))
            return EXIT_FAILURE; /* refused, or nobody to ask */
          hk.accepted = TRUE;
        }
      print_pairs (secrets, G_N_ELEMENTS (secrets), &hk, &q);
      wait_for_quit ();
    }
  for (gsize i = 0; i < G_N_ELEMENTS (secrets); i++)
    sh_secret_free (secrets[i].value);
  sh_secret_free (q.value);
  g_free (q.secret);
  g_free (q.text);
  return EXIT_SUCCESS;
}
