#!/bin/sh
# Wraps automake's test driver: runs it, then writes the test's wall time in whole
# seconds to NAME.time next to its NAME.log, so scripts/test.sh can say which tests
# take the suite's time (docs/testing.md, "Suite time").
# Usage (LOG_DRIVER): timed-driver.sh DRIVER [DRIVER-ARGS...] --log-file F.log ...
log=""
prev=""
for a in "$@"; do
  [ "$prev" = "--log-file" ] && log=$a
  prev=$a
done
if [ -z "$log" ]; then
  echo "timed-driver.sh: no --log-file among the driver's arguments" >&2
  exit 99
fi
start=$(date +%s)
"$@"
rc=$?
end=$(date +%s)
echo $((end - start)) > "${log%.log}.time"
exit $rc
