#!/usr/bin/env bash
# Debian's Chromium for the browser suite (test/browser): installs the `chromium` package when no
# chromium is found, then prints ONLY the executable's path on stdout, so
# `$(hack/chromium.sh)` captures it. Idempotent and fast when it is installed.
#
# Debian's package rather than a browser build downloaded by a tool: the packages are what every
# machine of the project (and CI) can install.
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

find_chromium() {
	local c
	for c in chromium chromium-browser; do
		if command -v "$c" >/dev/null 2>&1; then
			command -v "$c"
			return 0
		fi
	done
	return 1
}

if path="$(find_chromium)"; then
	echo "$path"
	exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
	log "no chromium on PATH and not root: install Debian's chromium package"
	exit 1
fi
log "installing Debian's chromium package"
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends chromium >&2
path="$(find_chromium)" || { log "chromium installed but not on PATH"; exit 1; }
# The install must give a browser that starts.
"$path" --version >&2
echo "$path"
