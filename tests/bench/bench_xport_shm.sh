#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# libtfxport over shm: batches/s, requests/s and bytes/s of the card posting
# to an echo accelerator (each request answered with one token and END),
# beside a plain memcpy of the same record bytes in the same run (ratio).
set -uo pipefail
. "$(dirname "$0")/../lib/common.sh"
D=$TF_BIN/tokfab-xport-drive
[ -x "$D" ] || { echo "bench_xport_shm: $D missing: run 'make'"; exit 1; }
export TOKFAB_SHM_DIR=$TF_LOGDIR
tf_bg echo "$D" --serve "shm:b$TF_ID" --echo --max-inflight 4096
tf_wait_for 10 test -S "$TF_LOGDIR/tokfab-b$TF_ID.sock" || { cat "$TF_LOGDIR/echo.log"; exit 1; }
for b in 1 16 64; do
	"$D" --connect "shm:b$TF_ID" --bench --seconds "${BENCH_SECONDS:-3}" --batch "$b" \
		--prompt-tokens 16 --quiet || exit 1
done
