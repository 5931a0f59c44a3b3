#!/bin/sh
# po/POTFILES.in must list every file with translatable strings: C with _()
# or N_(), GtkBuilder .ui with translatable="yes", and the .in files merged
# by i18n (polkit policy, metainfo). A file missing from the list ships
# untranslated without anyone noticing; a listed file that is gone breaks
# `meson compile shuttle-pot`.
set -eu
cd "$(dirname "$0")/.."
listed=$(mktemp) found=$(mktemp)
trap 'rm -f "$listed" "$found"' EXIT
# The tree's files: git's view when there is one (tracked and new, not
# ignored), else everything outside build directories (a release tarball).
files() {
  if git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard -- "$@"
  else
    for pat in "$@"; do find . -path ./build -prune -o -name "$pat" -type f -print; done |
      sed 's|^\./||' | grep -v '^build'
  fi
}
grep -v '^[[:space:]]*#' po/POTFILES.in | sed '/^[[:space:]]*$/d' | sort -u >"$listed"
{
  files '*.c' '*.h' | grep -v '^tests/' | grep -v '^bench/' |
    xargs grep -l -E '(^|[^A-Za-z0-9_])N?_ ?\(' 2>/dev/null || true
  files '*.ui' | xargs grep -l 'translatable="yes"' 2>/dev/null || true
  files '*.policy.in' '*.metainfo.xml.in' '*.desktop.in'
} | sort -u >"$found"
status=0
for f in $(comm -13 "$listed" "$found"); do
  echo "po/POTFILES.in: missing $f (it has translatable strings)"
  status=1
done
for f in $(cat "$listed"); do
  [ -f "$f" ] || { echo "po/POTFILES.in: lists $f, which does not exist"; status=1; }
done
[ $status = 0 ] && echo "po/POTFILES.in complete ($(wc -l <"$listed") files)"
exit $status
