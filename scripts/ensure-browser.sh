#!/bin/sh
# Make sure Debian's Chromium is present for the Playwright browser tests.
# Installs it with apt-get when it is missing and we are root; otherwise says what is missing
# (the browser tests then skip with the same message).
set -e
BROWSER="${VSLERP_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$BROWSER" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests (apt-get install chromium)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  [ -x "$BROWSER" ] && exit 0
fi
echo "note: $BROWSER is missing and cannot be installed here (need root and apt-get);" \
     "browser tests will be skipped. Install it with: sudo apt-get install chromium" >&2
exit 0
