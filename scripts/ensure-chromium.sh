#!/usr/bin/env bash
# Prints the path of a usable Chromium (and nothing else on success).
#
# Looks for `chromium` then `chromium-browser` on PATH (override with CHROMIUM=/path/to/chrome).
# When neither is there, installs Debian's `chromium` package (binary /usr/bin/chromium) through
# scripts/ensure-debian-package.sh (root or passwordless sudo). Otherwise fails with a clear message.
# Idempotent: once installed, it only prints the path. Install output goes to stderr only on failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
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

"${here}/ensure-debian-package.sh" chromium "no chromium or chromium-browser on PATH"

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
