#!/usr/bin/env bash
# Installs one Debian package (apt-get, non-interactive, no recommends), as root or through
# passwordless sudo. Shared by the ensure-<tool>.sh scripts, which first look for a usable tool and
# only call this when it is missing:
#   scripts/ensure-debian-package.sh PACKAGE [WHY]
# Prints nothing on success; apt-get's output goes to stderr only on failure. Exit 1 with a clear
# message when apt-get is missing or root cannot be obtained.
set -euo pipefail

package="${1:?usage: ensure-debian-package.sh PACKAGE [WHY]}"
why="${2:-${package} is missing}"

log() { printf 'ensure-%s: %s\n' "${package}" "$*" >&2; }

if ! command -v apt-get >/dev/null 2>&1; then
  log "${why}, and apt-get is not available to install Debian's ${package} package."
  log "Install it yourself and run again."
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    log "${why}, and installing it needs root:"
    log "  not running as root and passwordless sudo is not available."
    log "Run as root:  apt-get update && apt-get install -y --no-install-recommends ${package}"
    exit 1
  fi
fi

install_log="$(mktemp "${TMPDIR:-/tmp}/ensure-${package}.XXXXXX.log")"
trap 'rm -f "${install_log}"' EXIT

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update >"${install_log}" 2>&1 \
  || ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${package}" >>"${install_log}" 2>&1; then
  log "installing Debian's ${package} package failed; apt-get output:"
  cat "${install_log}" >&2
  exit 1
fi
