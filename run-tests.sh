#!/bin/sh
# Builds Shuttle and runs the whole test suite: unit tests, the fuzz corpora
# replayed, and the end-to-end tests (real sshd, nftables and clients in
# network namespaces this script's tests create and remove).
#   sudo ./run-tests.sh                 everything
#   sudo ./run-tests.sh --suite unit    one suite (unit, fuzz, e2e)
set -eu
cd "$(dirname "$0")"

tests/deps.sh test

# Warnings are errors here (and so in CI); a plain `meson setup` is lenient.
if [ ! -f build/build.ninja ]; then
  meson setup build --werror
else
  meson configure build -Dwerror=true
fi
ninja -C build

status=0
meson test -C build --print-errorlogs "$@" || status=$?

# One closing line that any CI reader understands.
/usr/bin/python3 - <<'PY'
import json
n = {'OK': 0, 'FAIL': 0, 'SKIP': 0}
try:
    for line in open('build/meson-logs/testlog.json'):
        r = json.loads(line).get('result', '')
        if r in ('OK', 'EXPECTEDFAIL'):
            n['OK'] += 1
        elif r == 'SKIP':
            n['SKIP'] += 1
        else:
            n['FAIL'] += 1
except OSError:
    pass
print('%d passed, %d failed, %d skipped' % (n['OK'], n['FAIL'], n['SKIP']))
PY
exit $status
