#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# libtfxport over rdma (Soft-RoCE in the VM tier's guest): batches/s, requests/s
# against an echo accelerator, beside ib_write_bw on the same rxe link in the same
# VM run, interleaved in rounds (TF_XPORT_BENCH_ROUNDS, default 3, of
# TF_XPORT_BENCH_SECONDS, default 4, per measurement) so that the shared machine's
# load hits reference and transport alike. Per round and as the median:
#   ratio_vs_ib_write_bw   transport records (batches) per second / ib_write_bw
#                          messages per second at the record's size (the issue's
#                          target: >= 0.9 for batched small requests)
#   ratio_vs_same_traffic  the same, against the raw link carrying the same
#                          traffic: one request-sized plus the answers'-sized
#                          writes per batch (1/rate(req) + answers per batch /
#                          rate(answer size)) -- every record is answered, while
#                          ib_write_bw is one-way
# TF_XPORT_DRIVE_BEFORE=path (an older build's tokfab-xport-drive, under the project
# tree so that the guest sees it) adds its run to every round: before/after ratios.
# TF_XPORT_BENCH_PERF=1 adds one transport run per batch size under perf (whole
# guest, kernel and user) and prints where the cycles went (TF_XPORT_BENCH_ROUNDS=0:
# that alone).
# Needs root and QEMU (the VM tier).
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tests/vm/lib/vm.sh"
[ "$(id -u)" -eq 0 ] || { echo "bench_xport_rdma: SKIPPED: needs root for the VM tier"; exit 0; }
TF_VM_ARGS=(bench)
tf_vm_run "$TF_ROOT/tests/vm/guest/rdma_xport.sh" 900 >"$TF_LOGDIR/vm.log" 2>&1 ||
	{ tail -n 40 "$TF_LOGDIR/vm.log"; echo "bench_xport_rdma: the VM run failed"; exit 1; }
grep -a -E '^(ib_write_lat|round)' "$TF_LOGDIR/vm.log"
python3 - "$TF_VM_OUT" <<'PYEOF'
import glob, os, re, statistics, sys
out = sys.argv[1]

def bw_rate(path):  # ib_write_bw's message rate (Mpps column) -> messages/s
    lines = open(path).read().splitlines()
    for i, l in enumerate(lines):
        if l.strip().startswith("#bytes") and i + 1 < len(lines):
            return float(lines[i + 1].split()[4]) * 1e6
    raise SystemExit("no ib_write_bw result in " + path)

def field(path, name):
    m = re.search(r"\b%s=([0-9.]+)" % name, open(path).read())
    return float(m.group(1)) if m else 0.0

for b, size in ((16, 2112), (1, 192)):
    r1, r2, r3 = [], [], []
    for p in sorted(glob.glob(os.path.join(out, "bench-rdma-b%d-r*.txt" % b))):
        r = p.rsplit("-r", 1)[1][:-4]
        bps = field(p, "batches_per_s")
        rps = field(p, "requests_per_s")
        resp_rate = field(p, "resp_records_per_s")
        resp_bytes = field(p, "resp_bytes_per_record")
        m_req = bw_rate(os.path.join(out, "bw-b%d-r%s.txt" % (b, r)))
        m_resp = bw_rate(os.path.join(out, "bw-resp-b%d-r%s.txt" % (b, r)))
        per_batch = resp_rate / bps if bps else 0
        if not m_req:  # ib_write_bw -D now and then reports a rate of 0 under TCG
            print("bench_xport_rdma: round=%s batch=%d: ib_write_bw reported no rate, "
                  "round left out" % (r, b))
            continue
        ratio = bps / m_req
        same = bps * (1 / m_req + per_batch / m_resp) if m_resp else float("nan")
        r1.append(ratio)
        if m_resp:
            r2.append(same)
        pb = os.path.join(out, "before-rdma-b%d-r%s.txt" % (b, r))
        if os.path.exists(pb):
            bb = field(pb, "batches_per_s")
            r3.append(bb / m_req)
            print("bench_xport_rdma: round=%s batch=%d before: batches_per_s=%.0f "
                  "ratio_vs_ib_write_bw=%.3f after/before=%.2f" % (r, b, bb, bb / m_req,
                                                                  bps / bb if bb else 0))
        print("bench_xport_rdma: round=%s batch=%d record_bytes=%d batches_per_s=%.0f "
              "requests_per_s=%.0f ib_write_bw_msgs_per_s=%.0f ratio_vs_ib_write_bw=%.3f "
              "answers_per_batch=%.2f answer_bytes=%.0f ib_write_bw_answer_size_msgs_per_s=%.0f "
              "ratio_vs_same_traffic=%.3f" % (r, b, size, bps, rps, m_req, ratio, per_batch,
                                              resp_bytes, m_resp, same))
    if r1:
        print("bench_xport_rdma: batch=%d median of %d rounds: ratio_vs_ib_write_bw=%.3f "
              "ratio_vs_same_traffic=%.3f" % (b, len(r1), statistics.median(r1),
                                              statistics.median(r2) if r2 else float("nan")))
    if r3:
        print("bench_xport_rdma: batch=%d before, median of %d rounds: "
              "ratio_vs_ib_write_bw=%.3f" % (b, len(r3), statistics.median(r3)))
PYEOF
if [ "${TF_XPORT_BENCH_PERF:-0}" = 1 ]; then
	grep -a '^perf run' "$TF_LOGDIR/vm.log"
	for b in 16 1; do
		echo "bench_xport_rdma: perf, batch $b, by command:"
		grep -v '^#' "$TF_VM_OUT/perf-comm-b$b.txt" | grep -v '^$' | head -n 8
		echo "bench_xport_rdma: perf, batch $b, by symbol (full list: $TF_VM_OUT/perf-b$b.txt):"
		grep -v '^#' "$TF_VM_OUT/perf-b$b.txt" | grep -v '^$' | head -n 30
	done
fi
