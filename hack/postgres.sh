#!/usr/bin/env bash
# A private PostgreSQL cluster for tests: 127.0.0.1:55432, trust auth, test-friendly
# durability settings. It is not Debian's default cluster; it lives in our cache directory.
#
#   hack/postgres.sh url     ensure it runs, print ONLY the connection URL on stdout
#   hack/postgres.sh start   ensure it runs
#   hack/postgres.sh stop    stop it (the data stays)
#
# Idempotent and fast when it already runs. Installs Debian's postgresql package when no
# initdb is found. Chatter goes to stderr so `$(hack/postgres.sh url)` captures only the URL.
set -euo pipefail

# PREFECTGO_PG_PORT and PREFECTGO_PG_DIR exist to try this script out beside the real cluster,
# and let the e2e tests run their own instance.
PORT="${PREFECTGO_PG_PORT:-55432}"
# For the e2e cluster's pods, which reach PostgreSQL at the node's address: more addresses to
# listen on (e.g. "127.0.0.1,192.0.2.2"), and a network let in with a password (scram-sha-256);
# connections from 127.0.0.1 keep trust auth.
LISTEN="${PREFECTGO_PG_LISTEN:-127.0.0.1}"
PASSWORD_CIDR="${PREFECTGO_PG_PASSWORD_CIDR:-}"
URL="postgres://postgres@127.0.0.1:${PORT}/postgres?sslmode=disable"
CACHE="${CACHE:-$HOME/.cache/prefectgo}"

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Newest installed server binaries (Debian puts them under /usr/lib/postgresql/<major>/bin).
find_bindir() {
	local d best=""
	for d in /usr/lib/postgresql/*/bin; do
		[[ -x "$d/initdb" ]] && best="$d"
	done
	# Glob order is lexical (10 < 9); good enough for Debian where only one major is present.
	echo "$best"
}

ensure_installed() {
	BINDIR="$(find_bindir)"
	[[ -n "$BINDIR" ]] && return 0
	[[ "$(id -u)" -eq 0 ]] || die "no PostgreSQL found under /usr/lib/postgresql and not root: install the postgresql package"
	log "installing Debian's postgresql package"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends postgresql >&2
	BINDIR="$(find_bindir)"
	[[ -n "$BINDIR" ]] || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
}

# PostgreSQL refuses to run as root, so as root we run it as the `postgres` system user
# (created by the Debian package). As an ordinary user we run it as that user.
if [[ "$(id -u)" -eq 0 ]]; then
	RUN_AS=postgres
else
	RUN_AS=""
fi

as_pg() {
	if [[ -n "$RUN_AS" ]]; then
		runuser -u "$RUN_AS" -- "$@"
	else
		"$@"
	fi
}

# Where the cluster lives. The preferred place is $CACHE/pg, but the postgres user must be able
# to traverse every parent directory: with CACHE under /root (mode 700) it cannot, so we fall
# back to /var/tmp/prefectgo-pg, which survives reboots and is reachable by everyone.
choose_root() {
	if [[ -n "${PREFECTGO_PG_DIR:-}" ]]; then
		PGROOT="$PREFECTGO_PG_DIR"
	else
		mkdir -p "$CACHE"
		if [[ -z "$RUN_AS" ]] || runuser -u "$RUN_AS" -- test -x "$CACHE" 2>/dev/null; then
			PGROOT="$CACHE/pg"
		else
			PGROOT="/var/tmp/prefectgo-pg"
		fi
	fi
	PGDATA="$PGROOT/pgdata"
	SOCKDIR="$PGROOT/sock"
	LOGFILE="$PGROOT/postgres.log"
}

is_running() {
	[[ -f "$PGDATA/PG_VERSION" ]] && as_pg "$BINDIR/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

port_answers() {
	"$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1
}

init_cluster() {
	mkdir -p "$PGROOT"
	if [[ -n "$RUN_AS" ]]; then
		chown "$RUN_AS": "$PGROOT"
	fi
	chmod 755 "$PGROOT"
	if [[ ! -f "$PGDATA/PG_VERSION" ]]; then
		log "initialising a new cluster in $PGDATA"
		rm -rf "$PGDATA"
		as_pg "$BINDIR/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2 ||
			as_pg "$BINDIR/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
		# Our settings live in their own file, rewritten on every start, so they can change.
		echo "include_if_exists = 'prefectgo.conf'" | as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null
	fi
	as_pg mkdir -p "$SOCKDIR"
	# Throwaway test data: durability off for speed; many connections for parallel test servers.
	as_pg tee "$PGDATA/prefectgo.conf" >/dev/null <<-EOF
		listen_addresses = '$LISTEN'
		port = $PORT
		unix_socket_directories = '$SOCKDIR'
		max_connections = 300
		shared_buffers = 128MB
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		logging_collector = off
	EOF
	# pg_hba.conf has no include before PostgreSQL 16: append the line once.
	if [[ -n "$PASSWORD_CIDR" ]] && ! grep -qF "host all all $PASSWORD_CIDR scram-sha-256" "$PGDATA/pg_hba.conf"; then
		echo "host all all $PASSWORD_CIDR scram-sha-256" | as_pg tee -a "$PGDATA/pg_hba.conf" >/dev/null
	fi
}

# After a machine restart (or a SIGKILL) postmaster.pid may name a PID that now belongs to an
# unrelated process; postgres would then refuse to start ("lock file already exists").
remove_stale_pidfile() {
	local pidfile="$PGDATA/postmaster.pid" pid
	[[ -f "$pidfile" ]] || return 0
	pid="$(head -n1 "$pidfile" 2>/dev/null || true)"
	# We always start it as `postgres -D $PGDATA`, so our live postmaster names the data dir.
	if [[ "$pid" =~ ^[0-9]+$ ]] && [[ -r "/proc/$pid/cmdline" ]] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$PGDATA"; then
		return 0 # our postmaster is alive; pg_ctl will judge it
	fi
	log "removing stale $pidfile (pid ${pid:-?} is not a running postgres)"
	rm -f "$pidfile" "$SOCKDIR/.s.PGSQL.$PORT.lock"
}

start() {
	ensure_installed
	choose_root
	if is_running; then
		return 0
	fi
	if port_answers; then
		# Someone else (an earlier cluster at another path) already serves the port; use it.
		log "a server already answers on 127.0.0.1:$PORT; using it"
		return 0
	fi
	init_cluster
	remove_stale_pidfile
	as_pg touch "$LOGFILE"
	log "starting PostgreSQL ($BINDIR) on $LISTEN port $PORT, data in $PGDATA"
	# 9>&-: the server must not inherit our lock descriptor, or it would hold the lock forever.
	if ! as_pg "$BINDIR/pg_ctl" -D "$PGDATA" -l "$LOGFILE" -w -t 60 start >&2 9>&-; then
		tail -n 30 "$LOGFILE" >&2 || true
		die "PostgreSQL did not start"
	fi
}

stop() {
	ensure_installed
	choose_root
	if is_running; then
		as_pg "$BINDIR/pg_ctl" -D "$PGDATA" -m fast -w stop >&2
	else
		log "not running"
	fi
}

cmd="${1:-url}"
case "$cmd" in
url | start)
	# Serialise concurrent callers (e.g. make -j) so only one initialises or starts the cluster.
	mkdir -p "$CACHE"
	exec 9>"$CACHE/postgres.sh.lock"
	flock -w 300 9 || die "timed out waiting for another hack/postgres.sh"
	start
	if [[ "$cmd" == url ]]; then
		echo "$URL"
	fi
	;;
stop)
	stop
	;;
*)
	die "usage: $0 url|start|stop"
	;;
esac
