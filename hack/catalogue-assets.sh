#!/usr/bin/env bash
# Prefect's catalogue, from the pinned prefect package: the collection views it bundles
# (prefect/server/api/collections_data/views/*.json) under views/, and blocks.json, the block
# types and schemas its server registers at start, written by hack/block-catalogue.py with the
# venv's python over prefect's own block registry. Goes to $CACHE/catalogue-$PREFECT_VERSION,
# the layout PREFECT_SERVER_CATALOGUE_DIRECTORY takes, and prints that directory. Never
# committed: all of it is prefect's, made from the package whenever it is needed.
#
#   PREFECT_VERSION default 3.9.1 (the Makefile exports the same)
#   CACHE           default ~/.cache/prefectgo
#   VENV            the venv of hack/python-env.sh, made by it when it lacks the pinned prefect
#
# The stamp, written last, names the prefect and the generator's checksum, so an interrupted
# run, another prefect or a changed generator is redone on the next run.
set -euo pipefail

PREFECT_VERSION="${PREFECT_VERSION:-3.9.1}"
CACHE="${CACHE:-$HOME/.cache/prefectgo}"
VENV="${VENV:-$CACHE/venv-$PREFECT_VERSION}"
export PREFECT_VERSION CACHE VENV
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$CACHE/catalogue-$PREFECT_VERSION"
STAMP="$OUT/.prefectgo-complete"
WANT="prefect==$PREFECT_VERSION $(sha256sum "$HERE/block-catalogue.py" | cut -d' ' -f1)"

log() { echo "catalogue-assets.sh: $*" >&2; }
complete() { [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -f "$OUT/blocks.json" && -d "$OUT/views" ]]; }

if complete; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$CACHE"
# Serialise concurrent callers (make test-go and make test-compat, say).
exec 9>"$OUT.lock"
flock -w 1200 9 || { log "timed out waiting for another catalogue-assets.sh"; exit 1; }
if complete; then
	echo "$OUT"
	exit 0
fi

# The pinned prefect, installed: its registry is only there to run.
pinned() {
	[[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$PREFECT_VERSION" 2>/dev/null <<-'EOF'
		import sys, importlib.metadata as md
		d = md.distribution("prefect")
		if d.version != sys.argv[1]:
		    sys.exit(1)
		print(d.locate_file("prefect"))
	EOF
}
if ! pkg=$(pinned); then
	"$HERE/python-env.sh"
	pkg=$(pinned) || { log "no prefect $PREFECT_VERSION in $VENV"; exit 1; }
fi

tmp=$(mktemp -d "$CACHE/.catalogue-$PREFECT_VERSION.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/views"
views=("$pkg"/server/api/collections_data/views/*.json)
[[ -f "${views[0]}" ]] || { log "no collection views in prefect $PREFECT_VERSION ($pkg)"; exit 1; }
cp --preserve=timestamps "${views[@]}" "$tmp/views/"
log "writing the block catalogue of prefect $PREFECT_VERSION"
"$VENV/bin/python" "$HERE/block-catalogue.py" >"$tmp/blocks.json"

rm -rf "$OUT"
mkdir -p "$OUT"
mv "$tmp/views" "$tmp/blocks.json" "$OUT/"
echo "$WANT" >"$STAMP"
log "done: $OUT"
echo "$OUT"
