#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tokfabd + tokfabctl against a card (tokfab-cardsim, lib/card's card side):
#  - budgets pushed by tokfabd are enforced by the card: a tenant is refused
#    once its budget is spent; a top-up through tokfabctl lets it run again;
#    after a card restart tokfabd re-seeds the balance from its ledger, so the
#    tenant never spends more than budget + top-ups;
#  - tokfabctl: tenants, usage (table, --json, --csv), health, accelerators,
#    set-budget, rotate-key, reload (a bad file is refused, the old one stays);
#  - SIGHUP reload; bearer-token refusal; /metrics passes promtool;
#  - HTTPS with a self-signed certificate; SIGTERM exits 0.
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_cmd sqlite3 curl promtool openssl python3
B=$TF_BIN
for p in tokfabd tokfabctl tokfab-cardsim; do [ -x "$B/$p" ] || tf_fail "missing $B/$p: run 'make'"; done
W=$TF_LOGDIR
BAR=/dev/shm/tf-quota-$TF_ID
PORT=$((20000 + RANDOM % 20000))
URL=http://127.0.0.1:$PORT
tf_on_exit "rm -f $BAR"
openssl rand -hex 32 >"$W/token"
openssl rand -hex 32 >"$W/a.key"
openssl rand -hex 32 >"$W/b.key"
export TOKFAB_TOKEN
TOKFAB_TOKEN=$(cat "$W/token")
CTL=("$B/tokfabctl" --url "$URL")

config() { # $1: extra api lines, $2: extra tenant text
	cat >"$W/tokfabd.yaml" <<EOF
card:
  access: shm:$BAR
ledger:
  path: $W/ledger.db
api:
  listen: 127.0.0.1:$PORT
  token_file: token
$1
models:
  - { id: 1, name: tiny }
accelerators:
  - { id: 1, address: /dev/shm/acc1, transport: shm, cost_per_hour: 3.60, models: [tiny] }
tenants:
  - { id: 1, name: acme, key_file: a.key, budget: 1.00, period: month, prices: { tiny: 1.00 } }
  - { id: 2, name: beta, key_file: b.key, budget: unlimited, prices: { tiny: 0.10 } }
$2
EOF
}
config "" ""
q() { sqlite3 "$W/ledger.db" "$1"; }
ready() { curl -sf "$URL/healthz" >/dev/null; }
configured() { grep -q "configured" "$W/tokfabd.log"; }

tf_bg tokfabd "$B/tokfabd" -c "$W/tokfabd.yaml"
TD=$TF_PID
tf_wait_for 10 ready || tf_fail "tokfabd did not start (see $W/tokfabd.log)"

# --- 1. the card enforces the budget tokfabd pushed --------------------------
tf_bg cardsim1 "$B/tokfab-cardsim" --bar "$BAR" --fresh --records 300 --rate 3000 \
	--summary "$W/sum1" --wait-tenants 2 --linger
CS=$TF_PID
tf_wait_for 20 test -s "$W/sum1" || tf_fail "the card did not get its 300 records acknowledged"
acme_cost=$(q "SELECT SUM(cost_micro) FROM usage WHERE tenant_id = 1")
acme_refused=$(q "SELECT COUNT(*) FROM usage WHERE tenant_id = 1 AND outcome = 5")
beta_refused=$(q "SELECT COUNT(*) FROM usage WHERE tenant_id = 2 AND outcome = 5")
tf_log "acme spent $acme_cost micro of a 1000000 budget, refused $acme_refused; beta refused $beta_refused"
[ "$acme_cost" -le 1000000 ] || tf_fail "acme spent $acme_cost micro-units, over its budget of 1000000"
[ "$acme_cost" -gt 700000 ] || tf_fail "acme spent only $acme_cost of its budget before refusals"
[ "$acme_refused" -gt 0 ] || tf_fail "acme was never refused although its budget ran out"
tf_expect_eq "$beta_refused" 0 "refusals of the unlimited tenant"

# --- 2. tokfabctl: top-up, tables, JSON, CSV, health, accelerators ----------
"${CTL[@]}" topup acme 2.00 >"$W/topup.out" || tf_fail "tokfabctl topup failed: $(cat "$W/topup.out")"
grep -q "topped up" "$W/topup.out" || tf_fail "tokfabctl topup printed: $(cat "$W/topup.out")"
"${CTL[@]}" tenants >"$W/tenants.out" || tf_fail "tokfabctl tenants failed"
grep -qE '^1 +acme +month +1\.00' "$W/tenants.out" || tf_fail "tenants table: $(cat "$W/tenants.out")"
# An unlimited tenant has no budget and no balance to show (never a negative amount).
tf_wait_for 5 bash -c "'${CTL[0]}' --url '$URL' tenants | grep -qE '^2 +beta +month +unlimited +[0-9.]+ +unlimited '" ||
	tf_fail "the unlimited tenant's row: $("${CTL[@]}" tenants)"
# Raw export: request ids are 16 hex digits (exact for all 64 bits).
"${CTL[@]}" usage --raw --tenant beta | python3 -c '
import json, sys
r = json.load(sys.stdin)["records"]
assert r and all(len(x["request_id"]) == 16 and int(x["request_id"], 16) > 0 for x in r), r[:3]
' || tf_fail "tokfabctl usage --raw: request ids are not 16 hex digits"
"${CTL[@]}" --json tenants | ACME_COST=$acme_cost python3 -c '
import json, os, sys
t = {x["name"]: x for x in json.load(sys.stdin)["tenants"]}
assert t["acme"]["topups_micro"] == 2000000, t["acme"]
assert t["acme"]["spent_micro"] == int(os.environ["ACME_COST"]), t["acme"]
assert t["beta"]["unlimited"] is True, t["beta"]
' || tf_fail "tokfabctl --json tenants is not what the ledger says"
"${CTL[@]}" usage --tenant acme --since -1h >"$W/usage.out" || tf_fail "tokfabctl usage failed"
grep -q "acme" "$W/usage.out" || tf_fail "usage table: $(cat "$W/usage.out")"
"${CTL[@]}" usage --csv --group tenant,outcome >"$W/usage.csv" || tf_fail "tokfabctl usage --csv failed"
refused_csv=$(awk -F, '$2 == "acme" && $5 == "refused" {print $6}' "$W/usage.csv")
tf_expect_eq "$refused_csv" "$acme_refused" "refused requests in the CSV export"
"${CTL[@]}" health >"$W/health.out" || tf_fail "tokfabctl health failed"
grep -qE '^card +0 +up' "$W/health.out" || tf_fail "health: $(cat "$W/health.out")"
grep -q "attached, firmware sim-1.0" "$W/health.out" || tf_fail "health: $(cat "$W/health.out")"
# Accelerator state and cost per token come from the once-a-second poll.
acc_ok() {
	"${CTL[@]}" accelerators >"$W/acc.out" &&
		grep -qE '^1 +shm +/dev/shm/acc1 +up +3\.60 +[1-9][0-9]* +[0-9.]+ +0\.50 +3' "$W/acc.out"
}
tf_wait_for 5 acc_ok || tf_fail "accelerators: $(cat "$W/acc.out")"

# --- 3. card restart: the balance is re-seeded from the ledger ---------------
kill -TERM "$CS"
wait "$CS" 2>/dev/null
tf_bg cardsim2 "$B/tokfab-cardsim" --bar "$BAR" --records 300 --rate 3000 --start-id 1001 \
	--summary "$W/sum2" --wait-tenants 2 --linger
CS=$TF_PID
tf_wait_for 20 test -s "$W/sum2" || tf_fail "the restarted card did not get its records acknowledged"
grep -q "re-configuring" "$W/tokfabd.log" || tf_fail "tokfabd did not notice the card restart"
acme_total=$(q "SELECT SUM(cost_micro) FROM usage WHERE tenant_id = 1")
acme_after=$(q "SELECT COUNT(*) FROM usage WHERE tenant_id = 1 AND outcome = 0 AND request_id > 1000")
tf_log "after a 2.00 top-up and a card restart acme spent $acme_total micro in total ($acme_after more requests)"
[ "$acme_after" -gt 0 ] || tf_fail "acme could not run after its top-up"
[ "$acme_total" -le 3000000 ] || tf_fail "acme spent $acme_total, more than budget + top-up (3000000)"
[ "$acme_total" -gt 2700000 ] || tf_fail "acme spent $acme_total: the re-seeded balance lost money"
tf_expect_eq "$(q 'SELECT COUNT(*) FROM usage')" 600 "records from both card lives"

# --- 4. budget and key changes ---------------------------------------------
"${CTL[@]}" set-budget acme 5.00 >/dev/null || tf_fail "tokfabctl set-budget failed"
"${CTL[@]}" --json tenants | grep -q '"budget": "5.00"' || tf_fail "the new budget is not shown"
old_key=$(cat "$W/a.key")
"${CTL[@]}" rotate-key acme >"$W/rotate.out" || tf_fail "tokfabctl rotate-key failed: $(cat "$W/rotate.out")"
new_key=$(tail -n 1 "$W/rotate.out")
[ "${#new_key}" -eq 64 ] && [ "$new_key" != "$old_key" ] || tf_fail "rotate-key printed: $(cat "$W/rotate.out")"
tf_expect_eq "$(cat "$W/a.key")" "$new_key" "key file after rotation"

# --- 5. reload: refused when bad, applied when good --------------------------
config "" "  - { id: 3, name: gamma, key_file: a.key, budget: lots }"
if "${CTL[@]}" reload 2>"$W/reload.err"; then tf_fail "a bad configuration was accepted"; fi
grep -q "tokfabd.yaml:.*tenants\[2\].budget" "$W/reload.err" || tf_fail "reload error: $(cat "$W/reload.err")"
kill -HUP "$TD"
tf_wait_for 5 grep -q "reload refused" "$W/tokfabd.log" || tf_fail "SIGHUP with a bad file was not refused"
"${CTL[@]}" tenants | grep -q gamma && tf_fail "the refused configuration was applied"
config "" "  - { id: 3, name: gamma, key_file: a.key, budget: 3.00 }"
kill -HUP "$TD"
tf_wait_for 5 bash -c "'${CTL[0]}' --url '$URL' tenants | grep -q gamma" || tf_fail "SIGHUP reload did not apply"
"${CTL[@]}" reload >/dev/null || tf_fail "tokfabctl reload of a good file failed"

# --- 6. auth, metrics --------------------------------------------------------
tf_expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/tenants")" 401 "API without a token"
tf_expect_eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "$URL/v1/usage")" 401 \
	"API with a wrong token"
curl -sf "$URL/metrics" >"$W/metrics.txt" || tf_fail "GET /metrics failed"
promtool check metrics <"$W/metrics.txt" >"$W/promtool.out" 2>&1 || tf_fail "promtool: $(cat "$W/promtool.out")"
grep -q 'tokfab_requests_total{tenant="acme",model="tiny",accelerator="0",outcome="refused"}' "$W/metrics.txt" ||
	tf_fail "metrics lack acme's refused requests"
kill -TERM "$CS"
wait "$CS" 2>/dev/null

# --- 7. SIGTERM, then HTTPS ---------------------------------------------------
kill -TERM "$TD"
wait "$TD"
rc=$?
tf_expect_eq "$rc" 0 "tokfabd exit status on SIGTERM"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$W/key.pem" -out "$W/cert.pem" >/dev/null 2>&1 ||
	tf_fail "openssl could not make a test certificate"
config "  tls_cert: cert.pem
  tls_key: key.pem" ""
tf_bg tokfabd-tls "$B/tokfabd" -c "$W/tokfabd.yaml"
TD=$TF_PID
tf_wait_for 10 curl -sf --cacert "$W/cert.pem" "https://127.0.0.1:$PORT/healthz" ||
	tf_fail "tokfabd did not serve HTTPS (see $W/tokfabd-tls.log)"
"$B/tokfabctl" --url "https://127.0.0.1:$PORT" --cacert "$W/cert.pem" tenants | grep -q acme ||
	tf_fail "tokfabctl over HTTPS failed"
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && tf_fail "plain HTTP answered on the TLS port"
kill -TERM "$TD"
wait "$TD" || tf_fail "tokfabd (TLS) did not exit 0 on SIGTERM"
tf_pass "budgets enforced at the card and re-seeded after its restart; CLI, reload, auth, metrics, TLS"
