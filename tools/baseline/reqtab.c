/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tokfab-baseline's request table: chained hash on (tenant, request id), and
 * a FIFO of finished requests kept for retransmits and RESUME (the response
 * cache), evicted oldest first by age and by count.
 */
#include "baseline/baseline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t
hash(uint32_t tenant, uint64_t rid)
{
	uint64_t h = (rid ^ ((uint64_t)tenant << 32 | tenant)) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32);
}

int
bl_reqtab_init(struct bl_reqtab *t, uint32_t max)
{
	uint32_t n = 16;

	memset(t, 0, sizeof(*t));
	while (n < max && n < (1u << 30))
		n <<= 1;
	t->b = calloc(n, sizeof(*t->b));
	if (!t->b)
		return -ENOMEM;
	t->mask = n - 1;
	t->max = max;
	return 0;
}

static void
req_free(struct bl_req *r)
{
	free(r->prompt);
	free(r->ids);
	free(r->plen);
	free(r->text);
	free(r);
}

void
bl_reqtab_fini(struct bl_reqtab *t)
{
	for (uint32_t i = 0; t->b && i <= t->mask; i++) {
		struct bl_req *r = t->b[i], *n;

		for (; r; r = n) {
			n = r->hnext;
			req_free(r);
		}
	}
	free(t->b);
	memset(t, 0, sizeof(*t));
}

struct bl_req *
bl_reqtab_find(struct bl_reqtab *t, uint32_t tenant, uint64_t rid)
{
	struct bl_req *r = t->b[hash(tenant, rid) & t->mask];

	while (r && (r->rid != rid || r->tenant_id != tenant))
		r = r->hnext;
	return r;
}

static void
done_unlink(struct bl_reqtab *t, struct bl_req *r)
{
	if (r->state != BL_DONE)
		return;
	if (r->lprev)
		r->lprev->lnext = r->lnext;
	else
		t->done_head = r->lnext;
	if (r->lnext)
		r->lnext->lprev = r->lprev;
	else
		t->done_tail = r->lprev;
	r->lnext = r->lprev = NULL;
	t->ndone--;
}

void
bl_reqtab_del(struct bl_reqtab *t, struct bl_req *r)
{
	struct bl_req **pp = &t->b[hash(r->tenant_id, r->rid) & t->mask];

	while (*pp && *pp != r)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = r->hnext;
	done_unlink(t, r);
	t->count--;
	req_free(r);
}

struct bl_req *
bl_reqtab_add(struct bl_reqtab *t, uint32_t tenant, uint64_t rid)
{
	struct bl_req *r;
	uint32_t h;

	if (t->count >= t->max && t->done_head)
		bl_reqtab_del(t, t->done_head);
	if (t->count >= t->max)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->tenant_id = tenant;
	r->rid = rid;
	h = hash(tenant, rid) & t->mask;
	r->hnext = t->b[h];
	t->b[h] = r;
	t->count++;
	return r;
}

void
bl_reqtab_done(struct bl_reqtab *t, struct bl_req *r, uint64_t now_us, uint32_t cache_ms)
{
	r->state = BL_DONE;
	r->t_done_us = now_us;
	r->lprev = t->done_tail;
	r->lnext = NULL;
	if (t->done_tail)
		t->done_tail->lnext = r;
	else
		t->done_head = r;
	t->done_tail = r;
	t->ndone++;
	/* the prompt is not needed any more; the tokens are (RESUME, retransmits) */
	free(r->prompt);
	r->prompt = NULL;
	bl_reqtab_expire(t, now_us, cache_ms);
}

void
bl_reqtab_expire(struct bl_reqtab *t, uint64_t now_us, uint32_t cache_ms)
{
	while (t->done_head && now_us - t->done_head->t_done_us > (uint64_t)cache_ms * 1000)
		bl_reqtab_del(t, t->done_head);
}
