#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfabd's dashboard in headless Chromium, with no network beyond tokfabd:
#  - the DOM after the page's scripts ran shows the card up, both tenants, and
#    the ledger's token total;
#  - the screenshot's card badge pixel is green while the card runs, and red
#    once the card stopped (so the pixel check can fail).
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_cmd chromium curl sqlite3 python3 openssl
B=$TF_BIN
for p in tokfabd tokfab-cardsim; do [ -x "$B/$p" ] || tf_fail "missing $B/$p: run 'make'"; done
W=$TF_LOGDIR
BAR=/dev/shm/tf-dash-$TF_ID
PORT=$((20000 + RANDOM % 20000))
URL=http://127.0.0.1:$PORT
tf_on_exit "rm -f $BAR"
openssl rand -hex 32 >"$W/token"
openssl rand -hex 32 >"$W/a.key"
cat >"$W/tokfabd.yaml" <<EOF
card:
  access: shm:$BAR
  watchdog_periods: 2
ledger:
  path: $W/ledger.db
api:
  listen: 127.0.0.1:$PORT
  token_file: token
models:
  - { id: 1, name: tiny }
accelerators:
  - { id: 1, address: /dev/shm/acc1, transport: shm, cost_per_hour: 3.60, models: [tiny] }
tenants:
  - { id: 1, name: acme-corp, key_file: a.key, budget: 500.00, prices: { tiny: 1.00 } }
  - { id: 2, name: beta-labs, key_file: a.key, budget: unlimited, prices: { tiny: 0.10 } }
EOF
tf_bg tokfabd "$B/tokfabd" -c "$W/tokfabd.yaml"
tf_wait_for 10 curl -sf "$URL/healthz" || tf_fail "tokfabd did not start (see $W/tokfabd.log)"
tf_bg cardsim "$B/tokfab-cardsim" --bar "$BAR" --fresh --records 2000 --rate 4000 \
	--summary "$W/sum" --wait-tenants 2 --linger
CS=$TF_PID
tf_wait_for 20 test -s "$W/sum" || tf_fail "the card's records were not acknowledged"
sleep 1.5 # one poll of accelerators and balances

TOKEN=$(cat "$W/token")
# Headless Chromium now and then hangs on a loaded machine (seen under ASan: no
# output until the timeout); a second try is the browser's, not the dashboard's.
chrome() { # $1: output option
	local try
	for try in 1 2; do
		timeout 60 chromium --headless --no-sandbox --disable-gpu \
			--disable-background-networking --disable-extensions --no-first-run \
			--user-data-dir="$W/chrome-$try" --window-size=1280,900 \
			--virtual-time-budget=5000 "$1" "$URL/#token=$TOKEN" 2>>"$W/chromium.log" &&
			return 0
		echo "chromium try $try failed (rc $?)" >>"$W/chromium.log"
	done
	return 1
}
# A pixel of the card badge in the 1280x900 screenshot (header 48 px high, badge 64x28 at x=16).
pixel() {
	python3 - "$1" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
        assert depth == 8 and ctype in (2, 6) and inter == 0, "unsupported PNG"
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride, prev, rows = zlib.decompress(idat), w * bpp, None, []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i] if prev else 0
        c = prev[i - bpp] if prev and i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
x, y = 22, 16  # inside the badge, left of its text
print("%d %d %d" % tuple(rows[y][x * bpp:x * bpp + 3]))
EOF
}
near() { # $1: "r g b", $2: "r g b"
	python3 -c "import sys; a=list(map(int,'$1'.split())); b=list(map(int,'$2'.split())); sys.exit(0 if max(abs(p-q) for p,q in zip(a,b)) <= 24 else 1)"
}

chrome --dump-dom >"$W/dom.html" || tf_fail "chromium --dump-dom failed (see $W/chromium.log)"
grep -q 'data-loaded="1"' "$W/dom.html" || tf_fail "the page's scripts did not load data (see $W/dom.html)"
grep -q 'id="card-badge" class="badge up"' "$W/dom.html" || tf_fail "card badge is not 'up' in $W/dom.html"
grep -q '<td>acme-corp</td>' "$W/dom.html" || tf_fail "tenant acme-corp missing from the dashboard"
grep -q '<td>beta-labs</td>' "$W/dom.html" || tf_fail "tenant beta-labs missing from the dashboard"
total=$(sqlite3 "$W/ledger.db" "SELECT SUM(prompt_tokens + completion_tokens) FROM usage")
shown=$(grep -o 'id="kpi-tokens">[^<]*' "$W/dom.html" | cut -d'>' -f2 | tr -d ,)
tf_expect_eq "$shown" "$total" "tokens on the dashboard vs the ledger"

chrome --screenshot="$W/up.png" >/dev/null || tf_fail "chromium --screenshot failed"
rgb=$(pixel "$W/up.png") || tf_fail "cannot read $W/up.png"
near "$rgb" "45 164 78" || tf_fail "card badge pixel is '$rgb', expected green (45 164 78): $W/up.png"

# Stop the card: the watchdog marks it down and the badge turns red.
kill -TERM "$CS"
wait "$CS" 2>/dev/null
card_down() {
	curl -sf -H "Authorization: Bearer $TOKEN" "$URL/v1/health" | python3 -c '
import json, sys
c = [x for x in json.load(sys.stdin)["components"] if x["component"] == "card"]
sys.exit(0 if c and c[0]["state"] == "down" else 1)'
}
tf_wait_for 10 card_down || tf_fail "tokfabd did not notice the stopped card"
chrome --screenshot="$W/down.png" >/dev/null || tf_fail "chromium --screenshot failed"
rgb=$(pixel "$W/down.png") || tf_fail "cannot read $W/down.png"
near "$rgb" "207 34 46" || tf_fail "card badge pixel is '$rgb', expected red (207 34 46): $W/down.png"
tf_pass "dashboard shows the ledger's $total tokens; the card badge is green, then red"
