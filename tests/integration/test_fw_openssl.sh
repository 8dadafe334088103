#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Independence check (hwdocs/firmware-image.md): an image built by tokfab-fw
# verifies with stock `openssl pkeyutl -verify -rawin` and sha256sum, using
# only the documented layout (bytes carved with od/head/tail/dd); and an image
# signed by stock openssl (key id and signature placed per the document)
# verifies with tokfab-fw. Tampering makes both sides fail.
. "$(dirname "$0")/../lib/common.sh"
tf_require_cmd openssl od sha256sum dd
FW=$TF_BIN/tokfab-fw
[ -x "$FW" ] || tf_fail "$FW not built: run make tokfab-fw"
w=$(mktemp -d); tf_on_exit "rm -rf $w"
cd "$w"

# Stock tools make the key; tokfab-fw signs with it.
openssl genpkey -algorithm ed25519 -out vendor.key 2>/dev/null || tf_fail "openssl cannot make an Ed25519 key"
openssl pkey -in vendor.key -pubout -out vendor.pub
head -c 5000 /dev/urandom > dp; head -c 1234 /dev/urandom > acc; echo "threads = 4" > cfg
{ echo "version = 3.1.4"; echo "security_version = 9"; echo "board_id = 0x54460001"
  echo "dataplane = dp"; echo "accel = acc"; echo "config = cfg"; "$FW" abi; } > manifest
"$FW" build --manifest manifest --out img --key vendor.key >/dev/null || tf_fail "tokfab-fw build failed"

u16() { od -An -tu2 -j"$2" -N2 "$1" | tr -d ' '; }
u64() { od -An -tu8 -j"$2" -N8 "$1" | tr -d ' '; }
hex() { od -An -tx1 -v -j"$2" -N"$3" "$1" | tr -d ' \n'; }

# 1. The signature, carved per the document.
[ "$(head -c 8 img)" = "TOKFABFW" ] || tf_fail "magic is not TOKFABFW at offset 0"
n=$(u16 img 14)
sig_off=$((128 + 64 * n))
head -c "$sig_off" img > signed.bin
tail -c +$((sig_off + 1)) img | head -c 64 > sig.bin
openssl pkeyutl -verify -pubin -inkey vendor.pub -rawin -in signed.bin -sigfile sig.bin \
	|| tf_fail "stock openssl does not verify the signature over bytes [0, $sig_off)"
tf_log "openssl: signature over header + $n table entries verifies"

# 2. Every section's SHA-256 with sha256sum; the table covers the whole file.
size=$(u64 img 24)
[ "$size" -eq "$(stat -c %s img)" ] || tf_fail "image_size $size differs from the file size"
end=$((sig_off + 64))
for ((i = 0; i < n; i++)); do
	e=$((128 + 64 * i))
	off=$(u64 img $((e + 8))); len=$(u64 img $((e + 16))); want=$(hex img $((e + 24)) 32)
	[ $((off % 64)) -eq 0 ] || tf_fail "section $i offset $off is not 64-byte aligned"
	[ "$off" -ge "$end" ] || tf_fail "section $i overlaps what precedes it"
	got=$(tail -c +$((off + 1)) img | head -c "$len" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || tf_fail "section $i: sha256sum $got, table says $want"
	end=$((off + len))
done
[ "$end" -eq "$size" ] || tf_fail "last section ends at $end, image_size is $size"
cmp -s <(tail -c +$((sig_off + 65)) img | head -c 5000) dp || tf_fail "section 0 is not the dataplane file"
tf_log "sha256sum: all $n section hashes match the table"

# 3. The image digest tokfab-fw reports is sha256sum of the file.
d=$("$FW" inspect --json img | sed -n 's/.*"image_sha256": "\([0-9a-f]*\)".*/\1/p')
[ "$d" = "$(sha256sum img | cut -d' ' -f1)" ] || tf_fail "inspect image_sha256 is not sha256sum of the file"

# 4. Tampering is caught by the stock tools too (this test can fail).
cp signed.bin bad.bin; printf '\x01' | dd of=bad.bin bs=1 seek=40 conv=notrunc status=none
if openssl pkeyutl -verify -pubin -inkey vendor.pub -rawin -in bad.bin -sigfile sig.bin >/dev/null 2>&1; then
	tf_fail "openssl accepted a changed security_version"
fi

# 5. The other way: stock openssl signs an unsigned tokfab image per the document.
"$FW" build --manifest manifest --out unsigned >/dev/null
kid=$(openssl pkey -pubin -in vendor.pub -outform DER | tail -c 32 | sha256sum | head -c 16)
printf "$(sed 's/../\\x&/g' <<<"$kid")" | dd of=unsigned bs=1 seek=88 conv=notrunc status=none
head -c "$sig_off" unsigned > tosign.bin
openssl pkeyutl -sign -inkey vendor.key -rawin -in tosign.bin -out osig.bin || tf_fail "openssl cannot sign"
dd if=osig.bin of=unsigned bs=1 seek="$sig_off" conv=notrunc status=none
"$FW" verify --pubkey vendor.pub unsigned || tf_fail "tokfab-fw rejects an image signed by stock openssl"
cmp -s unsigned img || tf_fail "openssl-signed image differs from the tokfab-fw-signed one (Ed25519 is deterministic)"
out=$("$FW" verify --pubkey vendor.pub bad.bin 2>&1) && tf_fail "tokfab-fw accepted a truncated file"
tf_log "tokfab-fw verifies the openssl-signed image; both signers produce identical bytes"
tf_pass
