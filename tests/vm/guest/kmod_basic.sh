# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/vm/test_kmod_basic.sh (runs in the VM as root).
set -u
. "$TF_ROOT/tests/vm/guest/kmod_lib.sh"

kmod_load
step "identity"
$CHK identity "$DEV" "$TF_KMOD_SERIAL" || fail "identity"
step "admin round trips"
$CHK admin "$DEV" || fail "admin"
echo "PASS: smoke"
