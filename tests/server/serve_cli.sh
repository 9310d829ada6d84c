#!/usr/bin/env bash
# `tome serve` end to end with curl: a tiny repository read by `tome ingest`, the server started on
# a free port (printed on stderr), /health, /v1/models, a chat answer, a streamed one (SSE ending
# in [DONE]), a llama.vim-shaped /infill, a JSON 400 for a malformed body, a refusal to listen
# beyond loopback without --api-key, and a clean stop on SIGTERM.
#   serve_cli.sh TOME SOURCE_DIR
# The repository lives in /tmp: inside the source tree, its .gitignore (build/) would hide it.
set -euo pipefail
TOME=$1 SRC=$2
WORK=$(mktemp -d /tmp/tome-serve-cli-XXXXXXXX)
mkdir -p "$WORK/repo/src"
printf 'import math\n\n\ndef circle_area(radius):\n    return math.pi * radius * radius\n' > "$WORK/repo/src/geometry.py"
printf 'from geometry import circle_area\n\n\ndef report(r):\n    print("circle", circle_area(r))\n' > "$WORK/repo/src/main.py"
common=(--model "$SRC/resources/models/tome-25m" --backend cpu --library "$WORK/library.db")
"$TOME" ingest "$WORK/repo" --session demo "${common[@]}" > /dev/null 2>&1
fail() { echo "serve_cli.sh: $*" >&2; [ -f "$WORK/serve.log" ] && cat "$WORK/serve.log" >&2; exit 1; }

if "$TOME" serve --host 0.0.0.0 --port 0 "${common[@]}" 2> "$WORK/refused.log"; then
  fail "listened on 0.0.0.0 without --api-key"
fi
grep -q -- "--api-key" "$WORK/refused.log" || fail "no --api-key in the refusal: $(cat "$WORK/refused.log")"

"$TOME" serve --port 0 --session demo "${common[@]}" 2> "$WORK/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/serve.log")
  [ -n "$port" ] && break
  kill -0 $pid 2>/dev/null || fail "tome serve exited"
  sleep 0.1
done
[ -n "$port" ] || fail "tome serve did not start"
url=http://127.0.0.1:$port

curl -sf "$url/health" | grep -q '"status":"ok"' || fail "/health"
curl -sf "$url/v1/models" | grep -q '"id":"tome:demo"' || fail "/v1/models"
out=$(curl -sf "$url/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"tome:demo","messages":[{"role":"user","content":"What does circle_area return?"}],"max_tokens":8}')
echo "$out" | grep -q '"object":"chat.completion"' || fail "chat: $out"
out=$(curl -sfN "$url/v1/chat/completions" -H 'Content-Type: application/json' \
  -d '{"model":"tome:demo","messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"stream":true}')
echo "$out" | grep -q '^data: {.*"chat.completion.chunk"' || fail "stream: $out"
echo "$out" | tail -n 2 | grep -q '^data: \[DONE\]' || fail "stream end: $out"
out=$(curl -sf "$url/infill" -H 'Content-Type: application/json' \
  -d '{"input_prefix":"def report(r):\n","input_suffix":"\n","input_extra":[],"prompt":"    print(","n_predict":8,"response_fields":["content","tokens_cached"]}')
echo "$out" | grep -q '"tokens_cached":' || fail "infill: $out"
code=$(curl -s -o "$WORK/bad.json" -w '%{http_code}' "$url/v1/completions" -d '{"prompt":')
[ "$code" = 400 ] && grep -q '"error"' "$WORK/bad.json" || fail "malformed body: $code $(cat "$WORK/bad.json")"

kill -TERM $pid
wait $pid || fail "tome serve did not stop cleanly"
trap - EXIT
grep -q "stopped" "$WORK/serve.log" || fail "no clean stop"
rm -rf "$WORK"
echo "serve_cli.sh: ok"
