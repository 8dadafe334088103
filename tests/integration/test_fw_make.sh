#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `make firmware`: names the missing program when the dataplane or agent is not
# built; otherwise builds a signed image of them, generating a development key
# on first use (and saying so loudly), reusing it after; FW_KEY signs with a
# given key instead. The real tokfab-dp / tokfab-accel are used when built;
# otherwise another built executable stands in as section contents.
. "$(dirname "$0")/../lib/common.sh"
FW=$TF_BIN/tokfab-fw
[ -x "$FW" ] || tf_fail "$FW not built: run make tokfab-fw"
w=$(mktemp -d); tf_on_exit "rm -rf $w"
san=; [ "$(basename "$BUILD")" = build-san ] && san=SAN=1
mk() { make -C "$TF_ROOT" --no-print-directory $san BUILD="$BUILD" FW_KEYDIR="$w/keys" "$@" firmware 2>&1; }

out=$(mk FW_DP="$w/nope/tokfab-dp" FW_ACCEL="$FW" FW_OUT="$w/x.img") && tf_fail "make firmware succeeded without a dataplane"
grep -q "missing $w/nope/tokfab-dp" <<<"$out" || tf_fail "make firmware did not name the missing program: $out"

# Copies, so that make does not (re)build the programs of other parts here.
dp=$w/tokfab-dp; acc=$w/tokfab-accel
if [ -x "$TF_BIN/tokfab-dp" ] && [ -x "$TF_BIN/tokfab-accel" ]; then
	cp "$TF_BIN/tokfab-dp" "$dp"; cp "$TF_BIN/tokfab-accel" "$acc"
else
	tf_log "tokfab-dp/tokfab-accel not built here: $FW stands in as section contents"
	cp "$FW" "$dp"; cp "$FW" "$acc"
fi
out=$(mk FW_DP="$dp" FW_ACCEL="$acc" FW_OUT="$w/a.img") || tf_fail "make firmware failed: $out"
grep -q "GENERATED A DEVELOPMENT SIGNING KEY" <<<"$out" || tf_fail "first use did not announce the new development key"
grep -q "DEVELOPMENT KEY - NOT FOR RELEASE" <<<"$out" || tf_fail "development signing not announced"
"$FW" verify --pubkey "$w/keys/tokfab-dev.pub" "$w/a.img" || tf_fail "image does not verify with the development key"
"$FW" inspect --json "$w/a.img" > "$w/a.json"
want=$(sha256sum "$dp" | cut -d' ' -f1)
grep -q "\"sha256\": \"$want\"" "$w/a.json" || tf_fail "the dataplane section is not $dp"

out=$(mk FW_DP="$dp" FW_ACCEL="$acc" FW_OUT="$w/b.img") || tf_fail "second make firmware failed: $out"
grep -q "GENERATED" <<<"$out" && tf_fail "the development key was generated again"
"$FW" verify --pubkey "$w/keys/tokfab-dev.pub" "$w/b.img" >/dev/null || tf_fail "second image does not verify"

"$FW" keygen "$w/release" >/dev/null
out=$(mk FW_DP="$dp" FW_ACCEL="$acc" FW_OUT="$w/r.img" FW_KEY="$w/release.key" FW_VERSION=4.5.6 FW_SECURITY_VERSION=3) \
	|| tf_fail "release make firmware failed: $out"
grep -q "DEVELOPMENT" <<<"$out" && tf_fail "a release build talked about the development key"
"$FW" verify --pubkey "$w/release.pub" "$w/r.img" | grep -q "version 4.5.6, security version 3" \
	|| tf_fail "release image does not verify with the release key or has the wrong version"
tf_pass
