/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Quota arithmetic (pure functions): budget periods in UTC, the balance a card
 * must be re-seeded with after it restarted, costs. The card enforces; the
 * host decides periods, top-ups and what the balance is after a card restart.
 */
#ifndef TFD_QUOTA_H
#define TFD_QUOTA_H

#include <stdint.h>

#include "tokfabd/config.h"

/* Start (ns since the Unix epoch, UTC) of the period that contains now_ns. */
uint64_t tfd_period_start(enum tfd_period p, uint64_t now_ns);
/* Start of the period after the one starting at start_ns. */
uint64_t tfd_period_next(enum tfd_period p, uint64_t start_ns);

/*
 * Balance for a card that lost its state: budget + top-ups this period - what
 * the ledger says was charged this period, never below 0 nor above
 * TF_MONEY_MAX.
 */
uint64_t tfd_quota_reseed(uint64_t budget_micro, int64_t topups_micro, int64_t spent_micro);

/* The card's charge for tokens at a price per 1000 tokens (usage-record.md). */
uint64_t tfd_cost_micro(uint64_t tokens, uint64_t price_per_1k_micro);

/*
 * Operator's cost of an accelerator per 1000 tokens over a window: its cost per
 * hour times the window, divided by the tokens it produced. -1 when no tokens.
 */
int64_t tfd_accel_cost_per_1k(uint64_t cost_per_hour_micro, uint64_t window_s, uint64_t tokens);

#endif /* TFD_QUOTA_H */
