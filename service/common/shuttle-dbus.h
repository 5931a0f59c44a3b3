/* SPDX-License-Identifier: GPL-2.0-or-later */
/* shuttle-dbus.h — the bus names, object paths and interfaces of Shuttle's
 * D-Bus interfaces (data/io.github.shuttlevpn.{Engine1,Firewall1,Prompt1}.xml),
 * in one place for everyone who serves or calls them. */
#pragma once

/* The engine's control interface (service/control.h). */
#define SH_ENGINE_PATH "/io/github/shuttlevpn/Engine"
#define SH_ENGINE_IFACE "io.github.shuttlevpn.Engine1"
/* On a session bus, followed by the engine's pid. */
#define SH_ENGINE_SESSION_PREFIX "io.github.shuttlevpn.Engine.p"

/* shuttle-firewall, the root helper, on the system bus; the NM plugin
 * serves the same interface and path to its engine. */
#define SH_FW_BUS_NAME "io.github.shuttlevpn.Firewall1"
#define SH_FW_OBJECT_PATH "/io/github/shuttlevpn/Firewall1"
#define SH_FW_IFACE "io.github.shuttlevpn.Firewall1"
/* Its errors: this prefix, then InvalidArgs, NotAuthorized, NotFound or
 * Failed (fw-wire.h). */
#define SH_FW_ERROR_PREFIX SH_FW_IFACE ".Error."

/* The NM service's questions to the user, for its engine's ssh
 * (service/askpass.h), on the control connection only. */
#define SH_PROMPT_PATH "/io/github/shuttlevpn/Prompt1"
#define SH_PROMPT_IFACE "io.github.shuttlevpn.Prompt1"

#define SH_DBUS_PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
