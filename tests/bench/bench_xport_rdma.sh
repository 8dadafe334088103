#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# libtfxport over rdma (Soft-RoCE in the VM tier's guest): batches/s,
# requests/s and bytes/s against an echo accelerator, beside ib_write_bw at
# the same message size on the same rxe link in the same VM run (ratio of
# message rates), and ib_write_lat. Needs root and QEMU (the VM tier).
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$TF_ROOT/tests/vm/lib/vm.sh"
[ "$(id -u)" -eq 0 ] || { echo "bench_xport_rdma: SKIPPED: needs root for the VM tier"; exit 0; }
TF_VM_ARGS=(bench)
tf_vm_run "$TF_ROOT/tests/vm/guest/rdma_xport.sh" 600 >"$TF_LOGDIR/vm.log" 2>&1 ||
	{ tail -n 40 "$TF_LOGDIR/vm.log"; echo "bench_xport_rdma: the VM run failed"; exit 1; }
grep -a -E '^(ib_write|bench_xport)' "$TF_LOGDIR/vm.log"
# ratio of message rates: one transport record (a batch) vs one ib_write_bw message
# of the same size, both measured in this VM run
for pair in "b16 2112" "b1 192"; do
	set -- $pair
	m=$(grep -A1 '#bytes' "$TF_VM_OUT/bw$2.txt" | tail -n 1 | awk '{print $5}')
	bps=$(sed -n 's/.*batches_per_s=\([0-9]*\).*/\1/p' "$TF_VM_OUT/bench-rdma-$1.txt" | head -n 1)
	rps=$(sed -n 's/.*requests_per_s=\([0-9]*\).*/\1/p' "$TF_VM_OUT/bench-rdma-$1.txt" | head -n 1)
	awk -v b="$bps" -v r="$rps" -v m="$m" -v n="$1" -v sz="$2" 'BEGIN {
		printf "bench_xport_rdma: batch=%s record_bytes=%s batches_per_s=%d requests_per_s=%d ib_write_bw_msgs_per_s=%d ratio_batches_vs_ib_write_bw=%.3f\n",
			substr(n, 2), sz, b, r, m * 1e6, (m > 0 ? b / (m * 1e6) : 0) }'
done
