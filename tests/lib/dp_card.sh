# SPDX-License-Identifier: BSD-3-Clause
# Checks of host-queue results (tests/integration/dp_hq_client.c output), shared
# by tests/integration/test_dp_card.sh (host tier) and tests/vm/guest/dp_card.sh
# (in the VM guest). Source it; each function prints why and returns 1 when a
# check fails.
#
# dp_card_check_done FILE N MAX_NEW PRICE MODEL TOKENIZER REFDIR ENGINE_REF
#   FILE has exactly N "done outcome=0" lines; in each, the tokens are what the
#   engine alone (ENGINE_REF = dp_engine_ref, greedy) generates for the prompt
#   (cached as REFDIR/ref-PROMPT-MAX_NEW), prompt/completion token counts are
#   those of the prompt and the tokens, cost = (tokens x PRICE per 1k + 500) /
#   1000, and each carries its own usage record's sequence number.
dp_card_check_done() {
	local f=$1 n=$2 max_new=$3 price=$4 model=$5 tok=$6 refdir=$7 ref=$8
	local line ud prompt toks pt ct cost seq want got
	got=$(grep -c ' done outcome=0 ' "$f")
	[ "$got" = "$n" ] || { echo "$f: $got DONE completions, expected $n"; return 1; }
	while read -r line; do
		ud=$(sed -n 's/^ud=\([0-9]*\) .*/\1/p' <<<"$line")
		prompt=$(sed -n 's/.* prompt=\([0-9,]*\) .*/\1/p' <<<"$line")
		toks=$(sed -n 's/.* tokens=\([0-9,]*\)$/\1/p' <<<"$line")
		pt=$(sed -n 's/.* prompt_tokens=\([0-9]*\) .*/\1/p' <<<"$line")
		ct=$(sed -n 's/.* completion_tokens=\([0-9]*\) .*/\1/p' <<<"$line")
		cost=$(sed -n 's/.* cost=\([0-9]*\) .*/\1/p' <<<"$line")
		seq=$(sed -n 's/.* seq=\([0-9]*\) .*/\1/p' <<<"$line")
		[ -s "$refdir/ref-$prompt-$max_new" ] ||
			"$ref" "$model" "$tok" "$prompt" "$max_new" 0 10000 0 >"$refdir/ref-$prompt-$max_new" ||
			{ echo "dp_engine_ref failed for prompt $prompt"; return 1; }
		want=$(cat "$refdir/ref-$prompt-$max_new")
		[ "$toks" = "$want" ] ||
			{ echo "host queue request $ud: card gave [$toks], engine [$want]"; return 1; }
		[ "$pt" = "$(awk -F, '{print NF}' <<<"$prompt")" ] ||
			{ echo "request $ud: prompt_tokens $pt for prompt $prompt"; return 1; }
		[ "$ct" = "$(awk -F, '{print NF}' <<<"$toks")" ] ||
			{ echo "request $ud: completion_tokens $ct for tokens $toks"; return 1; }
		[ "$cost" = $((((pt + ct) * price + 500) / 1000)) ] ||
			{ echo "request $ud: cost $cost, expected $((((pt + ct) * price + 500) / 1000))"; return 1; }
		[ "$seq" -gt 0 ] || { echo "request $ud: DONE without its usage record's sequence number"; return 1; }
	done < <(grep ' done ' "$f")
	got=$(grep ' done ' "$f" | grep -o ' seq=[0-9]*' | sort -u | wc -l)
	[ "$got" = "$n" ] || { echo "$f: $got distinct event sequence numbers for $n requests"; return 1; }
}

# dp_card_totals FILE: "requests prompt_tokens completion_tokens cost" of its DONE lines.
dp_card_totals() {
	awk '/ done outcome=0 / {
		n++
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "prompt_tokens") p += kv[2]
			if (kv[1] == "completion_tokens") c += kv[2]
			if (kv[1] == "cost") m += kv[2]
		}
	} END { printf "%d %d %d %d\n", n, p, c, m }' "$1"
}
