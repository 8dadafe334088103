#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End to end through tokfab-fw on a flash file: provision, flash (progress,
# read-back, pending), trial boot, confirm, an update that never confirms and
# falls back, anti-rollback and the logged lab override, rejected images, and
# power cuts (--fault-after-bytes) at sampled byte offsets of a flash and of a
# boot: after each the card boots a valid image.
. "$(dirname "$0")/../lib/common.sh"
tf_require_cmd python3 cmp
FW=$TF_BIN/tokfab-fw
[ -x "$FW" ] || tf_fail "$FW not built: run make tokfab-fw"
w=$(mktemp -d); tf_on_exit "rm -rf $w"
cd "$w"

fw() { "$FW" "$@"; }
expect_ok() { local out; out=$("$@" 2>&1) || tf_fail "'$*' failed: $out"; printf '%s\n' "$out"; }
expect_fail() { # PATTERN CMD...: must fail and say PATTERN
	local pat=$1 out; shift
	out=$("$@" 2>&1) && tf_fail "'$*' succeeded, expected a failure saying '$pat'"
	grep -q -- "$pat" <<<"$out" || tf_fail "'$*' failed without saying '$pat': $out"
}
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"d": d}))' "$1"; }
st() { fw status --flash card --json | jget "$1"; }
boots() { expect_ok fw boot --flash card | grep -o 'slot [ab]' | cut -c6; }

expect_ok fw keygen vendor >/dev/null
expect_ok fw keygen other >/dev/null
head -c 200000 /dev/urandom > dp; head -c 50000 /dev/urandom > acc
mk() { # NAME VERSION SV [KEY]
	{ echo "version = $2"; echo "security_version = $3"; echo "board_id = 0x54460001"
	  echo "dataplane = dp"; echo "accel = acc"; fw abi; } > "$1.m"
	expect_ok fw build --manifest "$1.m" --out "$1" --key "${4:-vendor.key}" >/dev/null
}
mk v1 1.0.0 1; mk v2 2.0.0 2; mk v2b 2.0.1 2; mk old 0.9.0 1; mk foreign 2.0.0 2 other.key
cp v2 tampered; printf 'X' | dd of=tampered bs=1 seek=100000 conv=notrunc status=none

expect_ok fw init --flash card --size 1M --pubkey vendor.pub --board 0x54460001 >/dev/null
expect_fail "already exists\|provisioned once" fw init --flash card --size 1M --pubkey vendor.pub --board 1
expect_fail "no bootable image" fw boot --flash card

# First image: flash shows progress with bytes and rate, then trial boot + confirm.
out=$(fw flash --flash card --progress v1 2>&1) || tf_fail "flash v1: $out"
grep -q "write .*KiB.*/s" <<<"$out" || tf_fail "flash did not show a progress bar with bytes and rate: $out"
grep -q "verify" <<<"$out" || tf_fail "flash did not read back"
grep -q "to slot a" <<<"$out" || tf_fail "first image did not go to slot a: $out"
tf_expect_eq "$(st 'd["pending"]')" a "pending slot after flash"
tf_expect_eq "$(boots)" a "first boot"
expect_ok fw confirm --flash card | grep -q "confirmed healthy" || tf_fail "confirm did not confirm"
tf_expect_eq "$(st 'd["active"]')" a "active slot"

# Rejected before anything is written.
seq_before=$(st 'd["meta_seq"]')
expect_fail "key-id" fw flash --flash card foreign
expect_fail "section-hash" fw flash --flash card tampered
expect_fail "section-hash" fw verify --pubkey vendor.pub tampered
tf_expect_eq "$(st 'd["meta_seq"]')" "$seq_before" "metadata untouched by refused images"

# An update that never confirms: 3 trial boots, then automatic fallback.
expect_ok fw flash --flash card v2 | grep -q "to slot b" || tf_fail "update did not go to the inactive slot b"
for i in 1 2 3; do tf_expect_eq "$(boots)" b "trial boot $i"; done
expect_fail "trial" fw flash --flash card v2b
out=$(fw boot --flash card 2>&1) || tf_fail "fallback boot failed: $out"
grep -q "slot a" <<<"$out" || tf_fail "did not fall back to slot a: $out"
grep -q "never confirmed" <<<"$out" || tf_fail "fallback not explained: $out"
tf_expect_eq "$(st 'd["slots"][1]["state"]')" bad "slot b after a failed trial"
tf_expect_eq "$(st 'd["min_security_version"]')" 1 "floor after a failed trial"

# The update again, confirmed this time: the floor rises to 2.
expect_ok fw flash --flash card v2 >/dev/null
tf_expect_eq "$(boots)" b "trial of v2"
expect_ok fw confirm --flash card >/dev/null
tf_expect_eq "$(st 'd["min_security_version"]')" 2 "floor after confirming sv 2"
fw status --flash card | grep -q "fw 2.0.0 (slot b" || tf_fail "status does not show 2.0.0 running in slot b"

# Anti-rollback: refused, unless the lab override, which is logged and counted.
expect_fail "rollback" fw flash --flash card old
expect_fail "rollback" fw activate --flash card --slot a
out=$(fw flash --flash card --allow-rollback old 2>&1) || tf_fail "lab override refused: $out"
grep -q "LAB OVERRIDE" <<<"$out" || tf_fail "lab override not logged: $out"
tf_expect_eq "$(st 'd["rollback_overrides"]')" 1 "override counter"
out=$(fw boot --flash card 2>&1); grep -q "LAB OVERRIDE" <<<"$out" || tf_fail "boot under override not logged: $out"
expect_ok fw confirm --flash card >/dev/null
tf_expect_eq "$(st 'd["min_security_version"]')" 2 "floor after confirming an overridden image"

# Power cuts: v2 running in b... restore a clean state: flash v2b over a, confirm.
expect_ok fw activate --flash card --slot b >/dev/null
tf_expect_eq "$(boots)" b "rollback to b"
expect_ok fw confirm --flash card >/dev/null
cp card card.base
len=$(stat -c %s v2b)
total=$(( 2 * (4096 + 64) + (len + 4095) / 4096 * 4096 + len ))
cuts="0 1 63 64 4095 4096 4159 4160 4161 8255 8256 $((total - 4161)) $((total - 65)) $((total - 1))"
for ((k = 1; k < 25; k++)); do cuts="$cuts $((total * k / 25))"; done
newboots=0
for n in $cuts; do
	cp card.base card
	expect_fail "POWER CUT" fw flash --flash card --fault-after-bytes "$n" v2b
	s=$(boots)
	[ -n "$s" ] || tf_fail "no boot after a power cut at byte $n of the flash"
	expect_ok fw confirm --flash card >/dev/null
	[ "$s" = b ] || newboots=$((newboots + 1))
done
[ "$newboots" -eq 0 ] || tf_fail "an interrupted flash was booted ($newboots times)"
cp card.base card
expect_ok fw flash --flash card --fault-after-bytes "$total" v2b >/dev/null
tf_expect_eq "$(boots)" a "flash with exactly enough power completes"
for n in 0 100 4096 4159; do # cut the trial boot's metadata write
	cp card.base card
	expect_ok fw flash --flash card v2b >/dev/null
	expect_fail "POWER CUT" fw boot --flash card --fault-after-bytes "$n"
	tf_expect_eq "$(boots)" a "boot after a cut boot at byte $n"
done
tf_log "power cuts at $(wc -w <<<"$cuts") offsets of a $total-byte flash: the card always booted"
tf_pass
