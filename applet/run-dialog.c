/* SPDX-License-Identifier: GPL-2.0-or-later */
/* run-dialog.c — a command line for a program in a tunnel (run-dialog.h). */
#include "config.h"

#include "run-dialog.h"

#include "runcmd.h"

#include <glib/gi18n-lib.h>

typedef struct
{
  GtkApplication *app;
  char *engine;
  GtkWidget *entry;
  GtkWidget *error;
} RunDialog;

static void
run_dialog_free (gpointer p, GClosure *closure)
{
  RunDialog *d = p;

  g_free (d->engine);
  g_free (d);
}

/* shuttle run --attach says on stderr why it could not (into our log);
 * its status says that it could not. */
static void
on_program_exit (GPid pid, int status, gpointer data)
{
  g_autofree char *what = data;
  g_autoptr (GError) error = NULL;

  g_spawn_close_pid (pid);
  if (!g_spawn_check_wait_status (status, &error))
    g_message ("%s: %s", what, error->message);
}

static gboolean
start (RunDialog *d, GError **error)
{
  const char *text = gtk_entry_get_text (GTK_ENTRY (d->entry));
  g_auto (GStrv) argv = sh_runcmd_argv (sh_runcmd_shuttle (), d->engine, text, error);
  GPid pid;

  if (argv == NULL)
    return FALSE;
  if (!g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, error))
    return FALSE;
  g_message ("started in the tunnel of %s: %s", d->engine, text);
  g_child_watch_add (pid, on_program_exit, g_strdup (text));
  return TRUE;
}

static void
on_response (GtkDialog *dialog, int response, gpointer data)
{
  RunDialog *d = data;
  g_autoptr (GError) error = NULL;

  if (response == GTK_RESPONSE_ACCEPT && !start (d, &error))
    {
      /* Stay open: the user corrects the line. */
      gtk_label_set_text (GTK_LABEL (d->error), error->message);
      gtk_widget_show (d->error);
      return;
    }
  gtk_widget_destroy (GTK_WIDGET (dialog));
}

void
sh_run_dialog_show (GtkApplication *app, const char *engine, const char *name)
{
  RunDialog *d = g_new0 (RunDialog, 1);
  /* TRANSLATORS: the dialog's title; %s: the connection's name */
  g_autofree char *title = g_strdup_printf (_ ("Run a program in %s"), name);
  GtkWidget *dialog, *box, *label;

  d->app = app;
  d->engine = g_strdup (engine);
  dialog = gtk_dialog_new_with_buttons (title, NULL, 0, _ ("_Cancel"), GTK_RESPONSE_CANCEL,
                                        _ ("_Run"), GTK_RESPONSE_ACCEPT, NULL);
  gtk_window_set_application (GTK_WINDOW (dialog), app);
  gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
  box = gtk_dialog_get_content_area (GTK_DIALOG (dialog));
  gtk_container_set_border_width (GTK_CONTAINER (box), 12);
  gtk_box_set_spacing (GTK_BOX (box), 6);
  label = gtk_label_new (_ ("The program and the programs it starts reach the tunnelled "
                            "networks through this connection; nothing else changes."));
  gtk_label_set_line_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 50);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_container_add (GTK_CONTAINER (box), label);
  d->entry = gtk_entry_new ();
  gtk_entry_set_activates_default (GTK_ENTRY (d->entry), TRUE);
  /* TRANSLATORS: an example command line, in the entry while it is empty */
  gtk_entry_set_placeholder_text (GTK_ENTRY (d->entry), _ ("e.g. firefox-esr --new-instance"));
  gtk_container_add (GTK_CONTAINER (box), d->entry);
  d->error = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (d->error), 0);
  gtk_widget_set_no_show_all (d->error, TRUE);
  gtk_container_add (GTK_CONTAINER (box), d->error);
  g_signal_connect_data (dialog, "response", G_CALLBACK (on_response), d, run_dialog_free, 0);
  gtk_widget_show_all (dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}
