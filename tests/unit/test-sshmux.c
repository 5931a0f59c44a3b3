/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-sshmux.c — the OpenSSH mux codec (service/sshmux.c): the bytes of
 * our requests as mux.c reads them, and the master's replies. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "sshmux.h"

static void
assert_bytes (GByteArray *got, const guint8 *want, gsize len)
{
  g_assert_cmpmem (got->data, got->len, want, len);
}

static void
test_requests (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  static const guint8 hello[] = { 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4 };
  sh_sshmux_put_hello (out);
  assert_bytes (out, hello, sizeof hello);

  g_byte_array_set_size (out, 0);
  static const guint8 alive[] = { 0, 0, 0, 8, 0x10, 0, 0, 4, 0, 0, 0, 7 };
  sh_sshmux_put_alive_check (out, 7);
  assert_bytes (out, alive, sizeof alive);

  /* type, rid, reserved "", host "10.1.2.3", port as uint32 */
  g_byte_array_set_size (out, 0);
  static const guint8 fwd[]
      = { 0, 0, 0, 28, 0x10, 0,   0,   8,   0,   0,   0,   9,   0, 0, 0,    0,
          0, 0, 0, 8,  '1',  '0', '.', '1', '.', '2', '.', '3', 0, 0, 0x01, 0xbb };
  g_assert_true (sh_sshmux_put_stdio_fwd (out, 9, "10.1.2.3", 443));
  assert_bytes (out, fwd, sizeof fwd);
}

static void
test_request_limits (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autofree char *long_host = g_strnfill (SH_SSHMUX_MAX_HOST + 1, 'a');
  g_assert_false (sh_sshmux_put_stdio_fwd (out, 1, "", 80));
  g_assert_false (sh_sshmux_put_stdio_fwd (out, 1, NULL, 80));
  g_assert_false (sh_sshmux_put_stdio_fwd (out, 1, long_host, 80));
  g_assert_false (sh_sshmux_put_stdio_fwd (out, 1, "h", 0));
  g_assert_false (sh_sshmux_put_stdio_fwd (out, 1, "h", 65536));
  g_assert_cmpuint (out->len, ==, 0);
  long_host[SH_SSHMUX_MAX_HOST] = '\0';
  g_assert_true (sh_sshmux_put_stdio_fwd (out, 1, long_host, 65535));
}

static void
test_replies (void)
{
  ShSshMuxMsg m;
  /* The master's hello, with its "info" extension. */
  static const guint8 hello[]
      = { 0, 0, 0, 21, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 4, 'i', 'n', 'f', 'o', 0, 0, 0, 1, '0' };
  g_assert_cmpint (sh_sshmux_parse (hello, sizeof hello, &m), ==, sizeof hello);
  g_assert_cmpuint (m.type, ==, SH_SSHMUX_MSG_HELLO);
  g_assert_cmpuint (m.value, ==, 4);
  /* Every prefix is incomplete, not an error. */
  for (gsize i = 0; i < sizeof hello; i++)
    g_assert_cmpint (sh_sshmux_parse (hello, i, &m), ==, 0);

  static const guint8 opened[] = { 0, 0, 0, 12, 0x80, 0, 0, 6, 0, 0, 0, 9, 0, 0, 0, 3 };
  g_assert_cmpint (sh_sshmux_parse (opened, sizeof opened, &m), ==, sizeof opened);
  g_assert_cmpuint (m.type, ==, SH_SSHMUX_S_SESSION_OPENED);
  g_assert_cmpuint (m.rid, ==, 9);
  g_assert_cmpuint (m.value, ==, 3);

  static const guint8 fail[] = { 0, 0, 0, 14, 0x80, 0, 0, 3, 0, 0, 0, 9, 0, 0, 0, 2, 'n', 'o' };
  g_assert_cmpint (sh_sshmux_parse (fail, sizeof fail, &m), ==, sizeof fail);
  g_assert_cmpuint (m.type, ==, SH_SSHMUX_S_FAILURE);
  g_assert_cmpuint (m.rid, ==, 9);
  g_assert_cmpmem (m.text, m.text_len, "no", 2);

  static const guint8 alive[] = { 0, 0, 0, 12, 0x80, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0x30, 0x39 };
  g_assert_cmpint (sh_sshmux_parse (alive, sizeof alive, &m), ==, sizeof alive);
  g_assert_cmpuint (m.type, ==, SH_SSHMUX_S_ALIVE);
  g_assert_cmpuint (m.value, ==, 12345);
}

static void
test_malformed (void)
{
  ShSshMuxMsg m;
  /* A text longer than its packet. */
  static const guint8 fail[] = { 0, 0, 0, 14, 0x80, 0, 0, 3, 0, 0, 0, 9, 0, 0, 0, 3, 'n', 'o' };
  g_assert_cmpint (sh_sshmux_parse (fail, sizeof fail, &m), ==, -EBADMSG);
  /* A body too short for its type. */
  static const guint8 opened[] = { 0, 0, 0, 8, 0x80, 0, 0, 6, 0, 0, 0, 9 };
  g_assert_cmpint (sh_sshmux_parse (opened, sizeof opened, &m), ==, -EBADMSG);
  static const guint8 empty[] = { 0, 0, 0, 0 };
  g_assert_cmpint (sh_sshmux_parse (empty, sizeof empty, &m), ==, -EBADMSG);
  /* A length beyond our bound fails at once, before the bytes come. */
  static const guint8 huge[] = { 0, 0, 0x10, 1 };
  g_assert_cmpint (sh_sshmux_parse (huge, sizeof huge, &m), ==, -EMSGSIZE);
  static const guint8 wrap[] = { 0xff, 0xff, 0xff, 0xff };
  g_assert_cmpint (sh_sshmux_parse (wrap, sizeof wrap, &m), ==, -EMSGSIZE);
  /* A type we do not know is skipped whole. */
  static const guint8 other[] = { 0, 0, 0, 6, 0x80, 0, 0, 0x0f, 1, 2 };
  g_assert_cmpint (sh_sshmux_parse (other, sizeof other, &m), ==, sizeof other);
  g_assert_cmpuint (m.type, ==, 0x8000000f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sshmux/requests", test_requests);
  g_test_add_func ("/sshmux/request-limits", test_request_limits);
  g_test_add_func ("/sshmux/replies", test_replies);
  g_test_add_func ("/sshmux/malformed", test_malformed);
  return g_test_run ();
}
