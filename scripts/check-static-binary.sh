#!/usr/bin/env bash
# Builds the release binary as docs/DEPLOY.md says (--static-swift-stdlib), checks that it links
# no Swift library of the toolchain, then starts a copy alone in an empty folder and checks that it
# serves the page with the right content types.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib/announced-port.sh

swift build -c release --static-swift-stdlib --product parley
binary="$(swift build -c release --static-swift-stdlib --show-bin-path)/parley"
if ldd "$binary" | grep -E 'libswift|libFoundation|libdispatch|/swift/'; then
  echo "check-static-binary: the release binary still links the toolchain's libraries (above)" >&2
  exit 1
fi

work=$(mktemp -d)
cp "$binary" "$work/parley"
server=
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$work" && exec env -i PATH=/usr/bin:/bin ./parley serve --port 0 >server.log 2>&1) &
server=$!
port=$(announced_port "$work/server.log")
check() {
  local path=$1 type=$2 file=$3
  local got
  got=$(curl -fsS -o "$work/body" -w '%{content_type}' "http://127.0.0.1:$port$path")
  [ "$got" = "$type" ] || { echo "check-static-binary: $path has Content-Type '$got', not '$type'" >&2; exit 1; }
  cmp -s "$work/body" "web/$file" || { echo "check-static-binary: $path differs from web/$file" >&2; exit 1; }
}
check / "text/html; charset=utf-8" index.html
check /app.js "text/javascript; charset=utf-8" app.js
check /style.css "text/css; charset=utf-8" style.css
echo "check-static-binary: $(du -h "$binary" | cut -f1) binary, no toolchain libraries, serves the page from an empty folder"
