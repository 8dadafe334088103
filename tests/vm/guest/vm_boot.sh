# SPDX-License-Identifier: BSD-3-Clause
# Guest side of test_vm_boot.sh: runs inside the VM. $1 = expected kernel.
set -u
fail() { echo "FAIL: $*"; exit 1; }
[ "$(uname -r)" = "$1" ] || fail "guest runs kernel $(uname -r), expected $1"
[ -f "$TF_ROOT/Makefile" ] || fail "project tree $TF_ROOT not visible in the guest"
touch /probe 2>/dev/null && fail "the host root is writable in the guest (must be read-only)"
modprobe -n -q veth || fail "modprobe cannot find modules for $(uname -r)"
uname -r >"$TF_VM_OUT/uname" || fail "cannot write to the shared output directory $TF_VM_OUT"
echo "PASS: guest $(uname -r) sees $TF_ROOT"
