#!/usr/bin/env bash
# WebSocket protocol conformance: runs the Autobahn|Testsuite fuzzing client against Parley's
# echo endpoint (`parley serve --echo-endpoint`), which reads frames through the same assembler
# and WebSocket configuration as /ws. Every case must end OK, NON-STRICT or INFORMATIONAL.
#
#   scripts/autobahn.sh            (needs Python 2.7 with `pip install autobahntestsuite`)
#
# Excluded: permessage-deflate (12.*, 13.*; Parley does not negotiate compression) and the 9.*
# cases whose messages exceed Parley's 64 KiB limit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/announced-port.sh

wstest=${WSTEST:-$(command -v wstest || echo /root/.pyenv/versions/2.7.18/bin/wstest)}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

swift build --product parley >/dev/null
parley="$(swift build --show-bin-path)/parley"
server=
"$parley" serve --port 0 --db "$work/echo.sqlite" --echo-endpoint --log-level info >"$work/server.log" 2>&1 &
server=$!
port=$(announced_port "$work/server.log")

cat >"$work/fuzzingclient.json" <<JSON
{
  "outdir": "$work/reports",
  "servers": [{"agent": "Parley", "url": "ws://127.0.0.1:$port/echo"}],
  "cases": ["*"],
  "exclude-cases": ["9.1.2", "9.1.3", "9.1.4", "9.1.5", "9.1.6", "9.2.2", "9.2.3", "9.2.4", "9.2.5", "9.2.6",
                    "9.3.*", "9.4.*", "9.5.*", "9.6.*", "12.*", "13.*"],
  "exclude-agent-cases": {}
}
JSON
(cd "$work" && "$wstest" -m fuzzingclient -s fuzzingclient.json >"$work/wstest.log" 2>&1) || {
  tail -20 "$work/wstest.log"
  exit 1
}

python3 - "$work/reports/index.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["Parley"]
allowed = {"OK", "NON-STRICT", "INFORMATIONAL"}
tally = {}
bad = []
for case, result in sorted(results.items()):
    tally[result["behavior"]] = tally.get(result["behavior"], 0) + 1
    if result["behavior"] not in allowed or result["behaviorClose"] not in allowed:
        bad.append("%s: %s / %s" % (case, result["behavior"], result["behaviorClose"]))
print("Autobahn: %d cases: %s" % (len(results), ", ".join("%s %d" % kv for kv in sorted(tally.items()))))
if bad:
    print("Cases that failed:\n  " + "\n  ".join(bad))
    sys.exit(1)
PY
