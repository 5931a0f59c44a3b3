#!/bin/sh
# Every message of the current sources is translated in every po/LL.po of
# po/LINGUAS: the sources' messages are extracted afresh (the files of
# po/POTFILES.in, the keywords of meson's 'glib' preset, as the shuttle-pot
# target does), each catalogue is merged against them in a temporary file,
# and every untranslated or fuzzy msgid is named. A new user-visible string
# fails here until its translation is added (`meson compile -C build
# shuttle-pot shuttle-update-po`, then translate what this lists).
# Also fails on a format string xgettext could not read whole (a macro
# inside the literal), which no translation could ever match.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
xgettext --package-name=shuttle --from-code=UTF-8 --add-comments \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
  --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 \
  --flag=N_:1:pass-c-format --flag=C_:2:pass-c-format --flag=NC_:2:pass-c-format \
  --flag=g_dngettext:2:pass-c-format --flag=g_strdup_printf:1:c-format \
  --flag=g_string_printf:2:c-format --flag=g_string_append_printf:2:c-format \
  --flag=g_error_new:3:c-format --flag=g_set_error:4:c-format \
  --flag=g_markup_printf_escaped:1:c-format --flag=g_log:3:c-format \
  --flag=g_print:1:c-format --flag=g_printerr:1:c-format \
  --flag=g_printf:1:c-format --flag=g_fprintf:2:c-format --flag=g_sprintf:2:c-format \
  --flag=g_snprintf:3:c-format \
  -f po/POTFILES.in -o "$tmp/shuttle.pot" 2>"$tmp/xgettext.err" || {
  cat "$tmp/xgettext.err"
  exit 1
}
status=0
if grep -q 'format string' "$tmp/xgettext.err"; then
  grep -B1 'format string' "$tmp/xgettext.err"
  status=1
fi
langs=$(sed -e 's/#.*//' po/LINGUAS)
for ll in $langs; do
  msgmerge --quiet --no-fuzzy-matching --no-wrap "po/$ll.po" "$tmp/shuttle.pot" -o "$tmp/$ll.po"
  # msgattrib prints only the header when nothing is left.
  for kind in untranslated only-fuzzy; do
    msgattrib --"$kind" --no-obsolete --no-wrap --no-location "$tmp/$ll.po" |
      sed -n 's/^msgid "\(..*\)"$/\1/p' >"$tmp/$kind"
    while IFS= read -r id; do
      echo "po/$ll.po: ${kind#only-} msgid \"$id\""
      status=1
    done <"$tmp/$kind"
  done
  total=$(grep -c '^msgid ' "$tmp/shuttle.pot")
  [ $status = 0 ] && echo "po/$ll.po: all $((total - 1)) messages translated"
done
exit $status
