#!/usr/bin/env bash
# Times `parley history` queries over a database of 1,000,000 generated messages.
#
#   scripts/bench-history-search.sh [messages]     (default 1000000; needs python3)
#
# Builds the release binary, generates messages in 50 rooms from 500 nicks (a fixed seed, so
# every run has the same data), imports them with `parley import`, then runs each query 5 times
# and prints the median wall time. Nothing here is a test: it measures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
count=${1:-1000000}
work=${BENCH_DIR:-/tmp/parley-search-bench}
mkdir -p "$work"
swift build -c release --product parley >/dev/null
parley=$(swift build -c release --show-bin-path)/parley

if [ ! -f "$work/$count.jsonl" ]; then
  python3 - "$count" "$work/$count.jsonl" <<'PY'
import json, random, sys, datetime
count, path = int(sys.argv[1]), sys.argv[2]
random.seed(7)
common = ("deploy release notes printer broken fixed coffee meeting lunch server database restart ticket "
          "customer invoice weekend holiday review merge branch build failed passed latency budget report "
          "design mobile browser cache index query backup restore network router switch firewall login "
          "password token session metrics alert pager incident postmortem roadmap sprint standup").split()
rare = ["w%04d" % i for i in range(5000)]
ids = {}
base = 1_764_000_000_000
with open(path, "w") as out:
    for i in range(count):
        room = "room%02d" % random.randrange(50)
        ids[room] = ids.get(room, 0) + 1
        words = [random.choice(common) if random.random() < 0.5 else random.choice(rare)
                 for _ in range(random.randint(4, 14))]
        if i == count * 7 // 9:
            words += ["zebra-crossing", "unique", "phrase"]
        ts = base + i * 500
        stamp = datetime.datetime.fromtimestamp(ts // 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        out.write(json.dumps({"room": room, "id": ids[room], "nick": "user%03d" % random.randrange(500),
                              "ts": "%s.%03dZ" % (stamp, ts % 1000), "text": " ".join(words)}) + "\n")
PY
fi
db="$work/$count.sqlite"
if [ ! -f "$db" ]; then
  start=$(date +%s.%N)
  "$parley" import --db "$db" "$work/$count.jsonl"
  echo "import: $(echo "$(date +%s.%N) - $start" | bc) s, database $(du -h "$db" | cut -f1)"
fi

median() {
  local times=()
  for _ in 1 2 3 4 5; do
    local start end
    start=$(date +%s%N)
    "$parley" history --db "$db" "$@" --format jsonl >"$work/out.jsonl"
    end=$(date +%s%N)
    times+=($(((end - start) / 1000000)))
  done
  local sorted
  sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
  printf '%6s ms  (runs: %s) %6s lines  parley history %s\n' \
    "$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)" "$sorted" "$(wc -l <"$work/out.jsonl")" "$*"
}

median --grep zebra
median --grep '"unique phrase"'
median --grep postmortem
median --grep 'post*'
median --grep 'w0042 OR w0043'
median --grep 'incident pager'
median --grep postmortem -r room07 --nick user123
median --grep postmortem -n 0
median --nick user123
median -r room07 --since 2025-11-25 --until 2025-11-26 -n 0
