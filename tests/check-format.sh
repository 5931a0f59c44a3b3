#!/bin/sh
# The tree's C is formatted by .clang-format; this test fails on any drift.
# Fix with: clang-format -i preload/*.[ch] applet/*.[ch] service/*.[ch] service/common/*.[ch] service/helper/*.[ch] tests/unit/*.c tests/helper/*.c tests/fuzz/*.c bench/src/*.c
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format not installed"; exit 77; }
clang-format --dry-run --Werror --style=file service/*.[ch] service/common/*.[ch] service/helper/*.[ch] tests/unit/*.c tests/helper/*.c tests/fuzz/*.c \
  nm-plugin/shared/*.[ch] nm-plugin/service/*.[ch] tests/nm/*.c \
  nm-plugin/properties/*.[ch] nm-plugin/editor/*.[ch] nm-plugin/auth-dialog/*.[ch] tests/nm-ui/*.c \
  applet/*.[ch] tests/applet/*.c preload/*.[ch]
echo "formatting ok"
