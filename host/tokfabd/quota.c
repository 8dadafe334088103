/* SPDX-License-Identifier: BSD-3-Clause */
/* Quota arithmetic: periods, re-seeding, costs. */
#include "tokfabd/quota.h"

#include <time.h>

#define NS 1000000000ull

uint64_t
tfd_period_start(enum tfd_period p, uint64_t now_ns)
{
	time_t t = (time_t)(now_ns / NS);
	struct tm tm;

	gmtime_r(&t, &tm);
	tm.tm_sec = 0;
	tm.tm_min = 0;
	switch (p) {
	case TFD_PERIOD_HOUR:
		break;
	case TFD_PERIOD_DAY:
		tm.tm_hour = 0;
		break;
	case TFD_PERIOD_WEEK:
		tm.tm_hour = 0;
		tm.tm_mday -= (tm.tm_wday + 6) % 7; /* back to Monday */
		break;
	default:
		tm.tm_hour = 0;
		tm.tm_mday = 1;
		break;
	}
	return (uint64_t)timegm(&tm) * NS;
}

uint64_t
tfd_period_next(enum tfd_period p, uint64_t start_ns)
{
	time_t t = (time_t)(start_ns / NS);
	struct tm tm;

	gmtime_r(&t, &tm);
	switch (p) {
	case TFD_PERIOD_HOUR:
		tm.tm_hour += 1;
		break;
	case TFD_PERIOD_DAY:
		tm.tm_mday += 1;
		break;
	case TFD_PERIOD_WEEK:
		tm.tm_mday += 7;
		break;
	default:
		tm.tm_mon += 1;
		break;
	}
	return (uint64_t)timegm(&tm) * NS;
}

uint64_t
tfd_quota_reseed(uint64_t budget_micro, int64_t topups_micro, int64_t spent_micro)
{
	__int128 b = (__int128)budget_micro + topups_micro - spent_micro;

	if (b < 0)
		return 0;
	if (b > (__int128)TF_MONEY_MAX)
		return TF_MONEY_MAX;
	return (uint64_t)b;
}

uint64_t
tfd_cost_micro(uint64_t tokens, uint64_t price_per_1k_micro)
{
	return (tokens * price_per_1k_micro + 500) / 1000;
}

int64_t
tfd_accel_cost_per_1k(uint64_t cost_per_hour_micro, uint64_t window_s, uint64_t tokens)
{
	__int128 cost;

	if (tokens == 0)
		return -1;
	/* cost of the window, per 1000 tokens, rounded half up */
	cost = (__int128)cost_per_hour_micro * window_s * 1000;
	return (int64_t)((cost + (__int128)tokens * 3600 / 2) / ((__int128)tokens * 3600));
}
