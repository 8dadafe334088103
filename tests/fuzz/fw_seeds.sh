#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Regenerates the seed corpora of the fw_image and fw_flash fuzz targets with
# tokfab-fw and the test-only key fw_fuzz_seed.key (its public key is in
# fw_seed_key.h). Run after `make tokfab-fw`; commit the results.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
fw=${BUILD:-$root/build}/bin/tokfab-fw
key=$root/tests/fuzz/fw_fuzz_seed.key
img_dir=$root/tests/fuzz/corpus/fw_image
fl_dir=$root/tests/fuzz/corpus/fw_flash
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

head -c 600 /dev/zero | tr '\0' 'D' > "$tmp/dp"
head -c 200 /dev/zero | tr '\0' 'A' > "$tmp/acc"
printf 'threads = 2\n' > "$tmp/cfg"
manifest() { # version sv extra-lines...
	printf 'version = %s\nsecurity_version = %s\nboard_id = 0x54460001\ndataplane = dp\n' "$1" "$2"
	shift 2
	printf '%s\n' "$@"
	"$fw" abi
}
manifest 1.0.0 1 "accel = acc" "config = cfg" > "$tmp/m1"
manifest 2.0.0 2 > "$tmp/m2"
"$fw" build --manifest "$tmp/m1" --out "$tmp/img1" --key "$key" >/dev/null
"$fw" build --manifest "$tmp/m2" --out "$tmp/img2" --key "$key" >/dev/null
"$fw" build --manifest "$tmp/m2" --out "$tmp/unsigned" >/dev/null

mkdir -p "$img_dir" "$fl_dir"
cp "$tmp/img1" "$img_dir/full"
cp "$tmp/img2" "$img_dir/minimal"
cp "$tmp/unsigned" "$img_dir/unsigned"
head -c 400 "$tmp/img1" > "$img_dir/head-only"

# A card (144 KiB: slots of 64 KiB at 16384 and 81920) mid-update.
openssl pkey -in "$key" -pubout > "$tmp/pub"
"$fw" init --flash "$tmp/card" --size 144K --pubkey "$tmp/pub" --board 0x54460001 >/dev/null
"$fw" flash --flash "$tmp/card" "$tmp/img1" >/dev/null 2>&1
"$fw" boot --flash "$tmp/card" >/dev/null
"$fw" confirm --flash "$tmp/card" >/dev/null
"$fw" flash --flash "$tmp/card" --tries 2 "$tmp/img2" >/dev/null 2>&1
half=$(( $(stat -c %s "$tmp/img1") > $(stat -c %s "$tmp/img2") ? $(stat -c %s "$tmp/img1") : $(stat -c %s "$tmp/img2") ))
carve() { # out
	{ dd if="$tmp/card" bs=1 skip=4096 count=64 status=none
	  dd if="$tmp/card" bs=1 skip=8192 count=64 status=none
	  dd if="$tmp/card" bs=1 skip=16384 count="$half" status=none
	  dd if="$tmp/card" bs=1 skip=81920 count="$half" status=none; } > "$1"
}
carve "$fl_dir/update-pending"
"$fw" boot --flash "$tmp/card" >/dev/null
carve "$fl_dir/on-trial"
"$fw" confirm --flash "$tmp/card" >/dev/null
carve "$fl_dir/confirmed"
echo "fw_seeds: wrote $(ls "$img_dir" | wc -l) fw_image and $(ls "$fl_dir" | wc -l) fw_flash seeds"
