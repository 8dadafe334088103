# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/vm/test_rdma_demo.sh: `make demo` (tools/demo.sh) on a machine
# that has an RDMA device -- Soft-RoCE on a veth in the VM guest. The demo must
# notice the device, put its second accelerator behind rdma, stream, meter and
# finish; the tiny model keeps it short under software emulation.
set -euo pipefail
. "$TF_ROOT/tests/lib/common.sh"
. "$TF_ROOT/tests/vm/guest/rdma_lib.sh"

rdma_rxe_up 10.77.0.1 || tf_fail "no Soft-RoCE device in the guest"
out=$TF_LOGDIR/demo.out
tf_on_exit "cp $out $TF_VM_OUT/"
rc=0
BUILD=$BUILD DEMO_MODEL=tiny DEMO_REQUESTS=2 timeout 400 bash "$TF_ROOT/tools/demo.sh" \
	>"$out" 2>&1 </dev/null || rc=$?
cat "$out"
[ $rc = 0 ] || tf_fail "the demo exited $rc"
grep -q "RDMA device found (netdev address 10.77.0.1): accelerator 2 is reached over rdma" "$out" ||
	tf_fail "the demo did not put an accelerator behind rdma"
grep -Eq "^2 +rdma +10\.77\.0\.1:[0-9]+ +up " "$out" ||
	tf_fail "tokfabd does not list accelerator 2 as rdma and up"
grep -Eq "^2 \(rdma\) +[1-9][0-9]* " "$out" || tf_fail "the ledger shows no request served over rdma"
grep -q "^ledger check: the tokens in the ledger equal the usage the clients received" "$out" ||
	tf_fail "no ledger check line"
grep -q "^demo: done" "$out" || tf_fail "the demo did not finish"
tf_pass "make demo with an RDMA device: accelerator 2 over rdma"
