#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium, which the browser tests drive through Playwright.
# Playwright's own browser downloads are not used, so a fresh machine only needs the `chromium` apt package.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "ensure-chromium: $CHROMIUM is missing and apt-get is not available; install Debian's chromium package" >&2
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "ensure-chromium: $CHROMIUM is missing; run 'apt-get install chromium' as root (no sudo here)" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

install_chromium() {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
}

echo "ensure-chromium: $CHROMIUM is missing; installing the chromium apt package"
if ! install_chromium; then
  echo "ensure-chromium: install failed; refreshing the package lists with apt-get update and trying again"
  "${SUDO[@]}" apt-get update
  if ! install_chromium; then
    echo "ensure-chromium: could not install the chromium apt package; browser tests cannot run" >&2
    exit 1
  fi
fi

if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: the chromium package installed but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "ensure-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
