/* SPDX-License-Identifier: GPL-2.0-or-later */
/* engines.h — finds the tunnel engines' control objects: those
 * NetworkManager's plugin re-exports on the system bus
 * (org.freedesktop.NetworkManager.shuttle.Connection_N) and standalone
 * engines on the session bus (io.github.shuttlevpn.Engine.p<PID>), by
 * listing bus names and following NameOwnerChanged. */
#pragma once

#include "engine.h"

G_BEGIN_DECLS

#define SH_TYPE_ENGINES (sh_engines_get_type ())
G_DECLARE_FINAL_TYPE (ShEngines, sh_engines, SH, ENGINES, GObject)

/* Starts watching both buses (asynchronously). "changed" (no arguments) is
 * emitted when an engine appears, goes, or one of its properties changes. */
ShEngines *sh_engines_new (void);

/* The engines whose properties are loaded (transfer container: free the
 * array, not the engines). */
GPtrArray *sh_engines_list (ShEngines *self);

/* The loaded engine of the NetworkManager connection @uuid, or NULL. */
ShEngine *sh_engines_find (ShEngines *self, const char *uuid);

/* The last failure an engine of connection @uuid reported, kept after the
 * engine is gone (NetworkManager ends the plugin right after a failure);
 * NULL when none. */
const char *sh_engines_last_failure (ShEngines *self, const char *uuid);
void sh_engines_forget_failure (ShEngines *self, const char *uuid);

/* TRUE while some engine's properties are being read: a failure reason may
 * be on its way ("changed" follows when the read ends). */
gboolean sh_engines_busy (ShEngines *self);

/* While TRUE the counters are read once a second (the status window is
 * shown); they have no change signal on purpose. */
void sh_engines_set_polling (ShEngines *self, gboolean polling);

G_END_DECLS
