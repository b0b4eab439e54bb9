#!/usr/bin/env bash
# The cluster figures of docs/CLUSTER.md and docs/PERFORMANCE.md, side by side in one session:
# a single SQLite node, one node on PostgreSQL, and NODES nodes on that one PostgreSQL database.
# Every case runs RUNS times on a fresh database; the medians are printed as a markdown table and
# every run's JSON is kept in $WORK/results.jsonl.
#
#   swift build -c release --product parley
#   scripts/bench-cluster.sh                 # RUNS=3 NODES=3 DURATION=10
#
# Needs PostgreSQL 15's server binaries (Debian's postgresql-15) in PGBIN. Run as root, the
# throwaway PostgreSQL runs as the postgres user (initdb refuses root). Everything listens on
# loopback and is stopped by PID at the end.
set -euo pipefail

PARLEY=${PARLEY:-$(pwd)/.build/release/parley}
RUNS=${RUNS:-3}
NODES=${NODES:-3}
DURATION=${DURATION:-10}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGPORT=${PGPORT:-55490}
WORK=$(mktemp -d /tmp/parley-cluster-bench.XXXXXX)
chmod 755 "$WORK"
LIMITS=(--say-burst 0 --command-burst 0 --max-connections-per-ip 0 --connect-burst-per-ip 0
  --max-connections 0 --max-members-per-room 0 --log-level warning)
NODE_PIDS=()

as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

cleanup() {
  for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  as_postgres "$PGBIN/pg_ctl -D $WORK/pg -m fast stop" >/dev/null 2>&1 || true
}
trap cleanup EXIT

mkdir "$WORK/pg" && [ "$(id -u)" = 0 ] && chown postgres "$WORK/pg"
as_postgres "$PGBIN/initdb -D $WORK/pg -A trust -U postgres" >/dev/null
as_postgres "$PGBIN/pg_ctl -D $WORK/pg -o '-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=200' -l $WORK/pg/server.log -w start" >/dev/null

wait_healthy() {
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "node on port $1 did not start" >&2
  return 1
}

# start_nodes DB COUNT: starts COUNT nodes on DB (a file or a URL); prints their --url options.
start_nodes() {
  local db=$1 count=$2 urls=()
  NODE_PIDS=()
  for index in $(seq 1 "$count"); do
    local port=$((18200 + index))
    "$PARLEY" serve --host 127.0.0.1 --port "$port" --db "$db" --node-id "n$index" "${LIMITS[@]}" \
      >>"$WORK/nodes.log" 2>&1 &
    NODE_PIDS+=($!)
    wait_healthy "$port"
    urls+=(--url "ws://127.0.0.1:$port/ws")
  done
  URLS=("${urls[@]}")
}

stop_nodes() {
  for pid in "${NODE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${NODE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  NODE_PIDS=()
}

# run_case SETUP CASE RUN BENCH-ARGUMENTS...
run_case() {
  local setup=$1 case=$2 run=$3
  shift 3
  local db
  case $setup in
  sqlite) db="$WORK/run-$case-$run.sqlite" ;;
  *)
    as_postgres "$PGBIN/createdb -h 127.0.0.1 -p $PGPORT -U postgres bench_${case//-/_}_${setup//-/_}_$run"
    db="postgres://postgres@127.0.0.1:$PGPORT/bench_${case//-/_}_${setup//-/_}_$run"
    ;;
  esac
  local count=1
  [ "$setup" = "pg-$NODES" ] && count=$NODES
  # Each case starts on a quiet PostgreSQL: the previous case's dirty pages are written out now,
  # not by a checkpoint in the middle of this one.
  as_postgres "psql -q -h 127.0.0.1 -p $PGPORT -U postgres -d postgres -c CHECKPOINT"
  sleep 1
  start_nodes "$db" "$count"
  local line
  line=$("$PARLEY" bench "$@" --duration "$DURATION" --json "${URLS[@]}" 2>/dev/null) || true
  stop_nodes
  # Nor by autovacuum of the previous case's tables.
  case $setup in
  sqlite) rm -f "$db" "$db-wal" "$db-shm" ;;
  *) as_postgres "$PGBIN/dropdb -h 127.0.0.1 -p $PGPORT -U postgres ${db##*/}" ;;
  esac
  echo "{\"setup\":\"$setup\",\"case\":\"$case\",\"run\":$run,\"report\":${line:-null}}" >>"$WORK/results.jsonl"
  echo "$setup $case #$run: ${line:-failed}" >&2
}

for run in $(seq 1 "$RUNS"); do
  for setup in sqlite pg-1 "pg-$NODES"; do
    # Many rooms: each sender alone in its room, as fast as acks allow.
    run_case "$setup" many-rooms "$run" store --senders 64 --window 32
    # One hot room: 8 senders (all of its members) with 32 messages in flight each. Every
    # message goes to 8 members: on this 2-core machine the generator saturates at about 40,000
    # deliveries/s, so this is a floor for the server, not its ceiling.
    run_case "$setup" hot-room "$run" fanout --rooms 1 --clients 8 --senders 8 --window 32
    # A fixed 2,000 messages/s: 20 rooms of 6 members, one sender each at 100/s.
    run_case "$setup" steady-2k "$run" fanout --rooms 20 --clients 6 --senders 1 --rate 100
  done
done

python3 - "$WORK/results.jsonl" "$NODES" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
nodes = sys.argv[2]
def median(setup, case, pick):
    values = [pick(r["report"]) for r in rows if r["setup"] == setup and r["case"] == case and r["report"]]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
def fmt(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"
def lost(setup, case):
    reports = [r["report"] for r in rows if r["setup"] == setup and r["case"] == case]
    if any(r is None for r in reports): return "failed run"
    return f'{sum(r.get("lost", 0) for r in reports)} / {sum(r.get("duplicated", 0) for r in reports)}'
setups = ["sqlite", "pg-1", f"pg-{nodes}"]
names = {"sqlite": "1 node, SQLite", "pg-1": "1 node, PostgreSQL", f"pg-{nodes}": f"{nodes} nodes, PostgreSQL"}
print("| setup | many rooms: msg/s | hot room: msg/s | 2,000 msg/s: p50 / p99 ms | cross-node p50 / p99 ms | lost / duplicated (all runs) |")
print("|---|---|---|---|---|---|")
for setup in setups:
    many = median(setup, "many-rooms", lambda r: r["committed_per_second"])
    hot = median(setup, "hot-room", lambda r: r["sends_per_second"])
    p50 = median(setup, "steady-2k", lambda r: r["latency"]["p50"])
    p99 = median(setup, "steady-2k", lambda r: r["latency"]["p99"])
    c50 = median(setup, "steady-2k", lambda r: (r.get("cross_node_latency") or {}).get("p50"))
    c99 = median(setup, "steady-2k", lambda r: (r.get("cross_node_latency") or {}).get("p99"))
    total = " + ".join(lost(setup, case) for case in ["many-rooms", "hot-room", "steady-2k"])
    cross = "-" if c50 is None else f"{fmt(c50, 1)} / {fmt(c99, 1)}"
    print(f"| {names[setup]} | {fmt(many)} | {fmt(hot)} | {fmt(p50, 1)} / {fmt(p99, 1)} | {cross} | {total} |")
EOF
echo "runs: $WORK/results.jsonl" >&2
