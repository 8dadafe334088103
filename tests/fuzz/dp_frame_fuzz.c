/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: any bytes as an Ethernet frame arriving at tokfab-dp's
 * pipeline (L2-L4 parsing and checksums, ARP/ICMP replies, the protocol
 * header, tenant and MAC checks, unsigned errors). The fuzzer cannot forge
 * MACs; dp_session_fuzz drives the authenticated paths.
 */
#include "dp_fuzz_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_worker();
	if (size > 9000)
		return 0;
	fz_feed(data, size);
	fz_tick(1000);
	return 0;
}
