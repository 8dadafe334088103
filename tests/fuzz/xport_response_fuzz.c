/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer: the card consuming its response ring (EVENTS records written by
 * an untrusted accelerator). */
#include "xport_consume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_consume(data, size, 1u << TF_ACCEL_REC_EVENTS);
	return 0;
}
