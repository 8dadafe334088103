#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Frames the kernel drops before the card sees them are counted by the card: tokfab-dp
# on net_af_packet with a deliberately tiny receive ring (4 frames), stopped (SIGSTOP)
# while a client in the namespace sends 600 datagrams to it, then continued. The
# af_packet PMD of DPDK 22.11 reports no imissed: the card reads the kernel's drops on
# its ring sockets (PACKET_STATISTICS). Asserts: /tokfab/port,0 imissed and
# kernel_ring_drops and /tokfab/stats rx_missed account for every datagram that did not
# reach the card (sent = received + missed, within the few the ring held), and the
# periodic stats line shows a non-zero rx_missed rate.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

tf_require_root
tf_require_cmd ip ping ethtool python3 dpdk-telemetry.py
[ -x "$TF_BIN/tokfab-dp" ] || tf_fail "missing $TF_BIN/tokfab-dp: run 'make' first"

W=$TF_LOGDIR
NS=tfrm$TF_ID
HIF=trm${TF_ID}a
NIF=trm${TF_ID}b
NET=10.$(((0x$TF_ID >> 8) % 200 + 20)).$((0x$TF_ID & 0xff))
CARD=$NET.1
PREFIX=tfrm$TF_ID
N=600
tf_on_exit "rm -rf /var/run/dpdk/$PREFIX"
tf_netns_veth "$NS" "$HIF" "$NIF" - "$NET.2/24"
ip netns exec "$NS" ethtool -K "$NIF" tx off >/dev/null
cat >"$W/dp.yaml" <<EOF
card:
  ipv4: $CARD
  stats_interval_s: 1
EOF
tf_bg dp "$TF_BIN/tokfab-dp" -l 0 --no-huge -m 256 --no-pci --file-prefix "$PREFIX" \
	--vdev="net_af_packet0,iface=$HIF,blocksz=4096,framesz=2048,framecnt=4" -- \
	--config "$W/dp.yaml"
DP=$TF_PID
tf_wait_for 20 ip netns exec "$NS" ping -c 1 -W 1 "$CARD" ||
	tf_fail "the card does not answer ping (log: $W/dp.log)"
grep -q "ring sockets were not found" "$W/dp.log" && tf_fail "the card did not find its af_packet ring sockets"

tel() { echo "$1" | dpdk-telemetry.py -f "$PREFIX" 2>/dev/null | tr -d '\n' | python3 -c '
import json, sys
s = sys.stdin.read(); s = s[s.index("{"):]
j = json.loads(s); print(json.dumps(list(j.values())[0]))'; }
rx0=$(tel /tokfab/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["rx_pkts"])')

tf_log "card stopped: $N datagrams into a 4-frame ring"
kill -STOP "$DP"
ip netns exec "$NS" python3 - "$CARD" "$N" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b"TKFB" + bytes(60), (sys.argv[1], 7480))
EOF
sleep 0.5
kill -CONT "$DP"
sleep 2.5

tel /tokfab/port,0 >"$W/port.json"
tel /tokfab/stats >"$W/stats.json"
python3 - "$W/port.json" "$W/stats.json" "$rx0" "$N" <<'EOF' || tf_fail "the kernel's drops are not counted: $(cat "$W/port.json")"
import json, sys
p, st = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rx0, n = int(sys.argv[3]), int(sys.argv[4])
got = st["rx_pkts"] - rx0
print("sent %d, the card received %d, port imissed %d (kernel ring %d), stats rx_missed %d"
      % (n, got, p["imissed"], p["kernel_ring_drops"], st["rx_missed"]))
assert p["kernel_ring_drops"] > 0 and p["imissed"] >= p["kernel_ring_drops"]
assert st["rx_missed"] == p["imissed"]
# every datagram either reached the card or is counted as missed (ARP/ping around it may add a few)
assert n <= got + p["imissed"] <= n + 8, "sent %d != received %d + missed %d" % (n, got, p["imissed"])
EOF
tf_wait_for 5 grep -Eq "rx_missed [1-9][0-9]*/s" "$W/dp.log" ||
	tf_fail "the stats line shows no rx_missed rate: $(grep stats: "$W/dp.log" | tail -n 3)"
kill -TERM "$DP"
wait "$DP" || tf_fail "tokfab-dp did not exit 0 on SIGTERM"
tf_pass "kernel receive-ring drops counted in port imissed, /tokfab/stats rx_missed and the stats line"
