# Sourced by scripts that start `parley serve --port 0`: prints the port the server announces in
# its log (the line "Parley is running: open http://127.0.0.1:PORT/"), waiting up to 10 s;
# prints the log and fails when none comes.
#   port=$(announced_port "$work/server.log")
announced_port() {
  local log=$1 port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's|.*open http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$log" | head -1 || true)
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  cat "$log" >&2
  echo "parley did not start (no port announced in $log)" >&2
  return 1
}
