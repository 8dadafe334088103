/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A straightforward single-sequence Llama forward pass in the llama2.c style,
 * written for tokfab's tests and benchmark as the baseline the engine is
 * checked and measured against: its own checkpoint reader (fread into one
 * buffer), contiguous KV cache, one matrix-vector product per weight matrix,
 * plain loops, one thread. It trusts the file (tests generate it).
 */
#ifndef TF_TEST_REF_LLAMA_H
#define TF_TEST_REF_LLAMA_H

#include <stdint.h>

struct ref_llama;

/* NULL on failure (message on stderr). */
struct ref_llama *ref_llama_open(const char *checkpoint);
void ref_llama_close(struct ref_llama *m);
int ref_llama_vocab(const struct ref_llama *m);
int ref_llama_seq_len(const struct ref_llama *m);
/* Bytes of weights one forward step reads (matrices + one embedding row). */
uint64_t ref_llama_step_bytes(const struct ref_llama *m);

/* Runs token at position pos (positions in order from 0); returns the logits
 * (vocab floats, valid until the next call). */
float *ref_llama_forward(struct ref_llama *m, int token, int pos);

#endif /* TF_TEST_REF_LLAMA_H */
