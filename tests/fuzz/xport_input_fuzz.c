/* SPDX-License-Identifier: BSD-3-Clause */
/* libFuzzer: the accelerator consuming its input ring (BATCH / CANCEL records
 * written by an untrusted card). */
#include "xport_consume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_consume(data, size, (1u << TF_ACCEL_REC_BATCH) | (1u << TF_ACCEL_REC_CANCEL));
	return 0;
}
