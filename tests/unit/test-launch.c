/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of launch.c's pure parts: what kind of program a file is (can
 * the preload library reach it?), and the subnets as the library reads
 * them. */
#include "config.h"

#include <elf.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

#include "launch.h"
#include "scope.h"
#include "subnet.h"

/* A little-endian ELF64 header with one program header of @type. */
static gsize
make_elf (guint8 *buf, guint32 type)
{
  Elf64_Ehdr *e = (Elf64_Ehdr *) buf;
  Elf64_Phdr *ph = (Elf64_Phdr *) (buf + sizeof *e);

  memset (buf, 0, sizeof *e + sizeof *ph);
  memcpy (e->e_ident, ELFMAG, SELFMAG);
  e->e_ident[EI_CLASS] = ELFCLASS64;
  e->e_ident[EI_DATA] = ELFDATA2LSB;
  e->e_phoff = sizeof *e;
  e->e_phentsize = sizeof *ph;
  e->e_phnum = 1;
  ph->p_type = type;
  return sizeof *e + sizeof *ph;
}

static void
test_exec_kind (void)
{
  guint8 buf[256];
  gsize n;

  n = make_elf (buf, PT_INTERP);
  g_assert_cmpint (sh_launch_exec_kind (buf, n), ==, SH_EXEC_DYNAMIC);
  n = make_elf (buf, PT_LOAD);
  g_assert_cmpint (sh_launch_exec_kind (buf, n), ==, SH_EXEC_STATIC);
  /* cut short inside the program header table: not judged static */
  g_assert_cmpint (sh_launch_exec_kind (buf, sizeof (Elf64_Ehdr) + 2), ==, SH_EXEC_UNKNOWN);
  g_assert_cmpint (sh_launch_exec_kind ((const guint8 *) "#!/bin/sh\n", 10), ==, SH_EXEC_SCRIPT);
  g_assert_cmpint (sh_launch_exec_kind ((const guint8 *) "MZ", 2), ==, SH_EXEC_UNKNOWN);
  g_assert_cmpint (sh_launch_exec_kind (buf, 0), ==, SH_EXEC_UNKNOWN);
}

static void
test_nets_env (void)
{
  g_autoptr (GArray) nets = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  g_autofree char *empty = sh_launch_nets_env (nets);
  const char *specs[] = { "10.231.2.0/24", "[fd31:2::]/64:22", "10.0.0.0/8:80-90" };

  g_assert_cmpstr (empty, ==, "");
  for (guint i = 0; i < G_N_ELEMENTS (specs); i++)
    {
      ShSubnet s;
      g_autoptr (GError) error = NULL;

      g_assert_true (sh_subnet_parse (specs[i], &s, &error));
      g_array_append_val (nets, s);
    }
  g_autofree char *env = sh_launch_nets_env (nets);
  g_assert_cmpstr (env, ==, "10.231.2.0/24,fd31:2::/64/22-22,10.0.0.0/8/80-90");
}

/* run --scope: where the cgroup v2 hierarchy is, where we are in it, and
 * how deep a path is (nft's "level"). */
static void
test_scope_paths (void)
{
  g_autofree char *hybrid
      = sh_scope_find_mount ("cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
                             "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\n");
  g_autofree char *none = sh_scope_find_mount ("proc /proc proc rw 0 0\n");
  g_autofree char *own = sh_scope_own_path ("1:name=systemd:/x\n0::/user.slice/u.scope\n");
  g_autofree char *v1 = sh_scope_own_path ("4:memory:/a\n");

  g_assert_cmpstr (hybrid, ==, "/sys/fs/cgroup/unified");
  g_assert_null (none);
  g_assert_cmpstr (own, ==, "/user.slice/u.scope");
  g_assert_null (v1);
  g_assert_cmpuint (sh_scope_level ("/"), ==, 0);
  g_assert_cmpuint (sh_scope_level ("/shuttle-run-1"), ==, 1);
  g_assert_cmpuint (sh_scope_level ("/user.slice/u.scope/shuttle-run-1"), ==, 3);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/launch/exec-kind", test_exec_kind);
  g_test_add_func ("/launch/nets-env", test_nets_env);
  g_test_add_func ("/launch/scope-paths", test_scope_paths);
  return g_test_run ();
}
