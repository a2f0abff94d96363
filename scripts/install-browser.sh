#!/bin/sh
# Install Debian's Chromium for the browser tests (tests/test_browser.py). Idempotent.
#
# The browser tests drive /usr/bin/chromium through Playwright's Python API with
# executable_path, so Playwright's own browser download is never needed.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "install-browser: $CHROMIUM is already installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: apt-get is not available; install Chromium yourself so that $CHROMIUM exists (browser tests skip until then)"
    exit 0
fi

# Root in CI; elsewhere use sudo when it is there.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-browser: not root and no sudo; run as root: apt-get install chromium"
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: installing Debian's chromium with apt-get"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null

if [ -x "$CHROMIUM" ]; then
    echo "install-browser: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
    echo "install-browser: apt-get finished but $CHROMIUM is missing; check the apt output above" >&2
    exit 1
fi
