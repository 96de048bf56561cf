#!/usr/bin/env bash
# Prints the path of a usable Chromium (and nothing else on success).
#
# Looks for `chromium` then `chromium-browser` on PATH (override with CHROMIUM=/path/to/chrome).
# When neither is there, installs Debian's `chromium` package (binary /usr/bin/chromium):
#   apt-get update (once per run) + apt-get install -y --no-install-recommends chromium
# as root, or through sudo (non-interactive) when not root. Otherwise fails with a clear message.
# Idempotent: once installed, it only prints the path. Install output goes to stderr only on failure.
set -euo pipefail

log() { printf 'ensure-chromium: %s\n' "$*" >&2; }

find_chromium() {
  if [ -n "${CHROMIUM:-}" ] && [ -x "${CHROMIUM}" ]; then
    printf '%s\n' "${CHROMIUM}"
    return 0
  fi
  local candidate
  for candidate in chromium chromium-browser; do
    if command -v "${candidate}" >/dev/null 2>&1; then
      command -v "${candidate}"
      return 0
    fi
  done
  return 1
}

# Chromium must actually start (a broken install or missing shared library must not pass as "usable").
usable() {
  "$1" --version >/dev/null 2>&1
}

if path="$(find_chromium)" && usable "${path}"; then
  printf '%s\n' "${path}"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "no chromium or chromium-browser on PATH, and apt-get is not available to install it."
  log "Install Chromium yourself (or set CHROMIUM=/path/to/chromium) and run again."
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    log "no chromium or chromium-browser on PATH, and installing it needs root:"
    log "  not running as root and passwordless sudo is not available."
    log "Run as root:  apt-get update && apt-get install -y --no-install-recommends chromium"
    exit 1
  fi
fi

install_log="$(mktemp "${TMPDIR:-/tmp}/ensure-chromium.XXXXXX.log")"
trap 'rm -f "${install_log}"' EXIT

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update >"${install_log}" 2>&1 \
  || ! "${SUDO[@]}" apt-get install -y --no-install-recommends chromium >>"${install_log}" 2>&1; then
  log "installing Debian's chromium package failed; apt-get output:"
  cat "${install_log}" >&2
  exit 1
fi

if path="$(find_chromium)" && usable "${path}"; then
  printf '%s\n' "${path}"
  exit 0
fi
if [ -x /usr/bin/chromium ] && usable /usr/bin/chromium; then
  printf '%s\n' /usr/bin/chromium
  exit 0
fi
log "the chromium package was installed but no working chromium binary was found (tried PATH and /usr/bin/chromium)."
exit 1
