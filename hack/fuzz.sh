#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for FUZZTIME each (one package and one
# target per `go test -fuzz`, as Go requires), found with `go test -list`, and prints a
# line per target: execs, and whether it found a failing input (kept under the
# package's testdata/fuzz/<target>/ by go test, to be committed as a seed once fixed).
#
#   hack/fuzz.sh [FUZZTIME]      default 1m
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime="${1:-1m}"
go="${GO:-go}"
summary=()
failed=0
for pkg in $($go list ./...); do
	for target in $($go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz'); do
		log="$(mktemp)"
		echo "fuzz.sh: $pkg $target for $fuzztime" >&2
		if $go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 "$pkg" >"$log" 2>&1; then
			result="ok"
		else
			result="FAILED (see the input under $(go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$target)"
			failed=1
			grep -v '^20' "$log" | tail -20 >&2
		fi
		execs="$(grep -o 'execs: [0-9]*' "$log" | tail -1)"
		summary+=("$(printf '%-45s %-22s %-16s %s' "${pkg#prefectgo.dev/prefectgo/}" "$target" "${execs:-execs: ?}" "$result")")
		rm -f "$log"
	done
done
printf '%s\n' "${summary[@]}"
exit $failed
