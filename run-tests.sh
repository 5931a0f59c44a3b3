#!/bin/sh
# Builds Shuttle and runs the whole test suite: unit tests, the fuzz corpora
# replayed, and the end-to-end tests (real sshd, nftables and clients in
# network namespaces this script's tests create and remove). Then the same
# unit, fuzz and end-to-end (C server) suites again on a second build with
# AddressSanitizer and UBSan (build-asan/), and the unit suite under
# valgrind. This is what CI runs (.ci/run).
#   sudo ./run-tests.sh                 everything
#   sudo ./run-tests.sh --quick         the plain build only (no sanitizers, no valgrind)
#   sudo ./run-tests.sh --suite unit    one suite (unit, fuzz, e2e), plain build only
# SHUTTLE_TESTS_QUICK=1 does what --quick does.
set -eu
cd "$(dirname "$0")"

quick=${SHUTTLE_TESTS_QUICK:-}
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
fi
# Choosing suites is a developer's run: the plain build only.
[ $# -gt 0 ] && quick=1

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
logs=build/meson-logs/testlog.json

if [ -z "$quick" ]; then
  # AddressSanitizer + UBSan: every error stops the process with a stack
  # trace on its stderr, which meson keeps in the test log.
  if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false --werror
  fi
  ninja -C build-asan
  san="halt_on_error=1:print_stacktrace=1"
  asan="$san:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
  export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
  export G_SLICE=always-malloc
  ASAN_OPTIONS=$asan UBSAN_OPTIONS=$san \
    meson test -C build-asan --print-errorlogs --suite unit --suite fuzz || status=$?
  logs="$logs build-asan/meson-logs/testlog.json"

  # The e2e suite starts engines in namespaces and, through ssh, the same
  # binary as the server on the gw (the lab's ssh passes these variables on,
  # tests/lib/netlab.py), whose stderr may be gone by the time a leak is
  # reported at exit: there every report goes to a file, which the lab
  # prints into the test log (failing the test), and which we check again
  # here for processes that ended after their lab. Only the run against the
  # C server ("e2e"): e2e-agent drives the same C engine against the Python
  # agent, which ASan does not see, and would add 4-5 minutes.
  reports="$(pwd)/build-asan/sanitizer-reports"
  rm -rf "$reports"
  mkdir -m 1777 -p "$reports"
  ASAN_OPTIONS=$asan:log_path=$reports/asan UBSAN_OPTIONS=$san:log_path=$reports/asan \
    meson test -C build-asan --print-errorlogs --logbase testlog-e2e e2e || status=$?
  logs="$logs build-asan/meson-logs/testlog-e2e.json"
  for f in "$reports"/asan.*; do
    [ -e "$f" ] || continue
    echo "==== sanitizer report $f"
    cat "$f"
    status=1
  done
  unset LSAN_OPTIONS G_SLICE

  # valgrind: what ASan does not see (uninitialised reads), on the plain build.
  meson test -C build --print-errorlogs --setup valgrind --suite unit || status=$?
  logs="$logs build/meson-logs/testlog-valgrind.json"
fi

# One closing line that any CI reader understands.
/usr/bin/python3 - $logs <<'PY'
import json
import sys
n = {'OK': 0, 'FAIL': 0, 'SKIP': 0}
failed = []
for path in sys.argv[1:]:
    try:
        for line in open(path):
            t = json.loads(line)
            r = t.get('result', '')
            if r in ('OK', 'EXPECTEDFAIL'):
                n['OK'] += 1
            elif r == 'SKIP':
                n['SKIP'] += 1
            else:
                n['FAIL'] += 1
                failed.append((path, t.get('name', '?'), t.get('stdout') or ''))
    except OSError:
        pass
# CI shows only the end of the output: name each failure there, with the
# end of its log, so that a failure seen once can be read, not guessed.
for path, name, out in failed:
    print('==== FAILED %s (%s), last lines of its output:' % (name, path))
    for line in out.rstrip().splitlines()[-40:]:
        print('  | ' + line)
print('%d passed, %d failed, %d skipped' % (n['OK'], n['FAIL'], n['SKIP']))
PY
exit $status
