#!/usr/bin/env bash
# The Python virtualenv for the compatibility suite: the real `prefect` client from PyPI, pinned,
# plus pytest. Created under the cache (outside the repository), reused when complete.
#
#   VENV            where (default ${CACHE:-$HOME/.cache/prefectgo}/venv-$PREFECT_VERSION)
#   PREFECT_VERSION default 3.9.1 (the Makefile exports the same)
#
# A stamp file written only after every install step succeeded marks the venv complete, so an
# interrupted or half-failed install is thrown away and redone on the next run.
set -euo pipefail

PREFECT_VERSION="${PREFECT_VERSION:-3.9.1}"
PYTEST_VERSION="9.2.0"
CACHE="${CACHE:-$HOME/.cache/prefectgo}"
VENV="${VENV:-$CACHE/venv-$PREFECT_VERSION}"
STAMP="$VENV/.prefectgo-complete"
WANT="prefect==$PREFECT_VERSION pytest==$PYTEST_VERSION"

log() { echo "python-env.sh: $*" >&2; }

# Fast path: complete and for the same pins.
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/python" ]]; then
	exit 0
fi

mkdir -p "$(dirname "$VENV")"
# Serialise concurrent callers so two installs never write into the same venv.
exec 9>"$VENV.lock"
flock -w 1200 9 || { log "timed out waiting for another python-env.sh"; exit 1; }
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/python" ]]; then
	exit 0
fi

# A venv built by other means (no stamp yet) that already has exactly the pins is adopted
# rather than rebuilt: importing both and comparing versions is proof enough.
if [[ -x "$VENV/bin/python" ]] &&
	"$VENV/bin/python" - "$PREFECT_VERSION" "$PYTEST_VERSION" >/dev/null 2>&1 <<-'EOF'; then
		import sys, prefect, pytest
		sys.exit(0 if (prefect.__version__, pytest.__version__) == (sys.argv[1], sys.argv[2]) else 1)
	EOF
	log "adopting the existing complete venv at $VENV"
	echo "$WANT" >"$STAMP"
	exit 0
fi

# python3 with the venv module; a bare Debian needs the python3-venv package for ensurepip.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
	if [[ "$(id -u)" -eq 0 ]]; then
		log "installing python3 and python3-venv from Debian"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update >&2
		apt-get install -y --no-install-recommends python3 python3-venv >&2
	else
		log "python3 with the venv module is required"
		exit 1
	fi
fi

log "creating $VENV with $WANT (takes a minute or two)"
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >&2
# shellcheck disable=SC2086 # WANT is a list of requirement specifiers
"$VENV/bin/python" -m pip install --disable-pip-version-check -q $WANT >&2
"$VENV/bin/python" -c 'import prefect, pytest' # the install must actually import
echo "$WANT" >"$STAMP"
log "done: $VENV"
