#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Frames the kernel drops before the card sees them are counted by the card: tokfab-dp
# on net_af_packet with a deliberately tiny receive ring (4 frames), stopped (SIGSTOP)
# while a client in the namespace sends 600 datagrams to it, then continued. The
# af_packet PMD of DPDK 22.11 reports no imissed: the card reads the kernel's drops on
# its ring sockets (PACKET_STATISTICS). Asserts: at least 592 of the 600 are counted in
# /tokfab/stats rx_missed and /tokfab/port,0 imissed (= kernel_ring_drops here); every
# frame the namespace put on the veth meanwhile (the veth's tx counter, read on both
# sides of each card read) either reached the card (rx_pkts) or is counted; and the
# stats line shows a rx_missed rate.
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
# The card's ring also sees what this host's kernel sends on the card's side of the
# veth (IPv6 neighbour discovery): no IPv6 there, so the namespace's frames are all.
sysctl -qw "net.ipv6.conf.$HIF.disable_ipv6=1"
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
# The veth's own count of what the namespace sent, read before and after each card
# read: background frames (ARP, IPv6) in flight meanwhile fall inside the brackets.
nif_tx() { ip netns exec "$NS" cat "/sys/class/net/$NIF/statistics/tx_packets"; }
tx0a=$(nif_tx)
tel /tokfab/stats >"$W/stats0.json"
tx0b=$(nif_tx)

tf_log "card stopped: $N datagrams into a 4-frame ring"
kill -STOP "$DP"
ip netns exec "$NS" python3 - "$CARD" "$N" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(bytes(64), (sys.argv[1], 7480))  # no magic: the card drops it silently
EOF
sleep 0.5
kill -CONT "$DP"
sleep 2.5
tx1=$(nif_tx)
tel /tokfab/stats >"$W/stats.json"
tx2=$(nif_tx)
tel /tokfab/port,0 >"$W/port.json"

python3 - "$W/port.json" "$W/stats0.json" "$W/stats.json" "$((tx1 - tx0b))" "$((tx2 - tx0a))" "$N" <<'EOF' ||
import json, sys
p, s0, st = (json.load(open(f)) for f in sys.argv[1:4])
lo, hi, n = (int(x) for x in sys.argv[4:7])
got, missed = st["rx_pkts"] - s0["rx_pkts"], st["rx_missed"] - s0["rx_missed"]
print("the namespace sent %d..%d frames (%d datagrams), the card received %d and counted %d "
      "as missed; port imissed %d = kernel ring %d" % (lo, hi, n, got, missed, p["imissed"],
                                                       p["kernel_ring_drops"]))
assert lo >= n and p["imissed"] == p["kernel_ring_drops"] and p["imissed"] >= missed
# a 4-frame ring keeps at most a few of the 600 for when the card continues
assert missed >= n - 8, "only %d of %d counted as missed" % (missed, n)
# every frame the namespace sent either reached the card or is counted
assert lo <= got + missed <= hi, "sent %d..%d != received %d + missed %d" % (lo, hi, got, missed)
EOF
	tf_fail "the kernel's drops are not counted: $(cat "$W/port.json")"
tf_wait_for 5 grep -Eq "rx_missed [1-9][0-9]*/s" "$W/dp.log" ||
	tf_fail "the stats line shows no rx_missed rate: $(grep stats: "$W/dp.log" | tail -n 3)"
kill -TERM "$DP"
wait "$DP" || tf_fail "tokfab-dp did not exit 0 on SIGTERM"
tf_pass "kernel receive-ring drops counted in port imissed, /tokfab/stats rx_missed and the stats line"
