/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The host-queue port of tokfab-dp (hostq.c): host queues (hwdocs/kmod.md
 * "Host queues") served by the same request pipeline as the network, through
 * a ring-backed port that faces the host. Main lcore only.
 *
 *   create()  before the ports are set up (the port is one of them)
 *   start()   once they are (learns the port's MAC)
 *   tenant()  the control bus's tenant observer: keeps each tenant's key
 *   poll()    every main-loop pass: answers -> completions, SQEs -> requests
 *   usage()   every usage record from the workers: takes those of host-queue
 *             requests (posted with the SQE's user_data, seq into DONE)
 *   destroy() after the drain: records not posted yet go to the records FIFO
 */
#ifndef TF_DP_HOSTQ_H
#define TF_DP_HOSTQ_H

#include <stdint.h>

#include "tokfab/bar.h"
#include "tokfab/usage.h"

struct tf_dp_app;
struct tf_dp_hostq;

/* Top byte of the request ids the card gives host-queue requests (hwdocs/kmod.md). */
#define TF_DP_HQ_ID_TAG 0xfeu

struct tf_dp_hostq_stats {
	uint64_t taken; /* SQEs made into requests */
	uint64_t refused; /* SQEs refused before the pipeline (unknown tenant, no room) */
	uint64_t done; /* DONE completions (or records of released queues) */
	uint64_t errors; /* ERROR completions from the pipeline's refusals */
	uint64_t tokens; /* tokens posted to completion queues */
	uint64_t retransmits; /* requests sent again after silence or a gap */
	uint64_t stray; /* answers for no live request */
	uint64_t stray_records; /* usage records with the tag but no request */
	uint64_t bad_frames; /* frames from the pipeline that did not decode */
	uint32_t in_flight;
};

int tf_dp_hostq_create(struct tf_dp_app *app, struct tf_dp_hostq **out);
void tf_dp_hostq_start(struct tf_dp_hostq *hq);
uint16_t tf_dp_hostq_port(const struct tf_dp_hostq *hq);
void tf_dp_hostq_tenant(void *arg, uint32_t id, const struct tf_aq_set_tenant *cmd);
/* take_new 0: only finish what runs (drain). Returns the work done. */
unsigned int tf_dp_hostq_poll(struct tf_dp_hostq *hq, int take_new);
/* 1 when u was a host-queue request's record (taken), else 0. */
int tf_dp_hostq_usage(struct tf_dp_hostq *hq, const struct tf_usage_record *u);
unsigned int tf_dp_hostq_busy(const struct tf_dp_hostq *hq);
void tf_dp_hostq_stats(const struct tf_dp_hostq *hq, struct tf_dp_hostq_stats *st);
void tf_dp_hostq_destroy(struct tf_dp_hostq *hq);

#endif /* TF_DP_HOSTQ_H */
