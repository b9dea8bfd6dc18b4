#!/usr/bin/env bash
# Prefect's two web UIs, as built into the pinned prefect wheel (prefect/server/ui and
# prefect/server/ui-v2), extracted under the cache as v1/ and v2/: the layout
# PREFECT_SERVER_UI_STATIC_DIRECTORY takes. Prints that directory. Never committed: the UIs
# are Prefect's build output, taken from the wheel whenever they are needed.
#
#   PREFECT_VERSION default 3.9.1 (the Makefile exports the same)
#   CACHE           default ~/.cache/prefectgo; the UIs go to $CACHE/ui-$PREFECT_VERSION
#   VENV            the venv of hack/python-env.sh: its installed prefect is copied when it is
#                   the pinned version, else the wheel is fetched with `pip download`
#
# A stamp written only once both UIs are in place marks the directory complete, so an
# interrupted run is redone on the next.
set -euo pipefail

PREFECT_VERSION="${PREFECT_VERSION:-3.9.1}"
CACHE="${CACHE:-$HOME/.cache/prefectgo}"
VENV="${VENV:-$CACHE/venv-$PREFECT_VERSION}"
OUT="$CACHE/ui-$PREFECT_VERSION"
STAMP="$OUT/.prefectgo-complete"

log() { echo "ui-assets.sh: $*" >&2; }
complete() { [[ -f "$STAMP" && -f "$OUT/v1/index.html" && -f "$OUT/v2/index.html" ]]; }

if complete; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$CACHE"
# Serialise concurrent callers (make test-go and make run-server, say).
exec 9>"$OUT.lock"
flock -w 600 9 || { log "timed out waiting for another ui-assets.sh"; exit 1; }
if complete; then
	echo "$OUT"
	exit 0
fi

tmp=$(mktemp -d "$CACHE/.ui-$PREFECT_VERSION.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The venv's prefect, if it is the pinned one: importlib.metadata reads the version without
# importing prefect.
pkg=""
if [[ -x "$VENV/bin/python" ]]; then
	pkg=$("$VENV/bin/python" - "$PREFECT_VERSION" 2>/dev/null <<-'EOF' || true
		import sys, importlib.metadata as md
		d = md.distribution("prefect")
		if d.version == sys.argv[1]:
		    print(d.locate_file("prefect"))
	EOF
	)
fi

if [[ -n "$pkg" && -f "$pkg/server/ui/index.html" && -f "$pkg/server/ui-v2/index.html" ]]; then
	log "copying the UIs of prefect $PREFECT_VERSION from $VENV"
	cp -R --preserve=timestamps "$pkg/server/ui" "$tmp/v1"
	cp -R --preserve=timestamps "$pkg/server/ui-v2" "$tmp/v2"
else
	python=python3
	[[ -x "$VENV/bin/python" ]] && python="$VENV/bin/python"
	if ! "$python" -m pip --version >/dev/null 2>&1; then
		if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
			log "installing python3-pip from Debian"
			export DEBIAN_FRONTEND=noninteractive
			apt-get update >&2
			apt-get install -y --no-install-recommends python3 python3-pip >&2
			python=python3
		else
			log "needs python3 with pip (or the venv of hack/python-env.sh) to fetch the prefect wheel"
			exit 1
		fi
	fi
	log "downloading the prefect $PREFECT_VERSION wheel"
	"$python" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
		-d "$tmp/wheel" "prefect==$PREFECT_VERSION" >&2
	# Only the two UI directories, each file with its time in the wheel.
	"$python" - "$tmp"/wheel/prefect-*.whl "$tmp" <<-'EOF'
		import os, shutil, sys, time, zipfile
		wheel, out = sys.argv[1], sys.argv[2]
		dirs = {"prefect/server/ui/": "v1", "prefect/server/ui-v2/": "v2"}
		with zipfile.ZipFile(wheel) as z:
		    for info in z.infolist():
		        for prefix, name in dirs.items():
		            if info.filename.startswith(prefix) and not info.is_dir():
		                dest = os.path.join(out, name, info.filename[len(prefix):])
		                os.makedirs(os.path.dirname(dest), exist_ok=True)
		                with z.open(info) as src, open(dest, "wb") as dst:
		                    shutil.copyfileobj(src, dst)
		                t = time.mktime(info.date_time + (0, 0, -1))
		                os.utime(dest, (t, t))
	EOF
fi

for v in v1 v2; do
	[[ -f "$tmp/$v/index.html" ]] || { log "no $v UI (index.html) in prefect $PREFECT_VERSION"; exit 1; }
done
rm -rf "$OUT"
mkdir -p "$OUT"
mv "$tmp/v1" "$tmp/v2" "$OUT/"
echo "prefect==$PREFECT_VERSION" >"$STAMP"
log "done: $OUT"
echo "$OUT"
