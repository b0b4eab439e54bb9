#!/usr/bin/env bash
# A few seconds of `parley bench fanout` against a fresh server: checks that the tool runs end to
# end and that nothing is lost or doubled (it exits 1 if so). Not a performance check: no
# figure here is compared with a threshold.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
parley=${PARLEY:-.build/debug/parley}
directory=$(mktemp -d)
port=${PORT:-18731}
"$parley" serve --port "$port" --db "$directory/smoke.sqlite" --log-level warning \
  --say-burst 0 --command-burst 0 --max-connections-per-ip 0 --connect-burst-per-ip 0 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$directory"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
"$parley" bench fanout --url "ws://127.0.0.1:$port/ws" --rooms 2 --clients 20 --senders 2 \
  --duration 2 --warmup 0.5 --server-pid "$server"
