/* SPDX-License-Identifier: BSD-3-Clause */
/* Usage-group hash map (see keymap.h). */
#include "tokfabd/keymap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
hash(const struct tfd_usage_key *k)
{
	uint64_t h = k->hour * 0x9e3779b97f4a7c15ull;

	h ^= ((uint64_t)k->tenant << 32 | k->model) * 0xc2b2ae3d27d4eb4full;
	h ^= ((uint64_t)k->accel << 32 | (uint32_t)k->outcome) * 0x165667b19e3779f9ull;
	return h ^ (h >> 29);
}

static int
same(const struct tfd_usage_key *a, const struct tfd_usage_key *b)
{
	return a->hour == b->hour && a->tenant == b->tenant && a->model == b->model &&
	       a->accel == b->accel && a->outcome == b->outcome;
}

static struct tfd_keymap_entry *
slot(struct tfd_keymap_entry *e, uint32_t cap, const struct tfd_usage_key *k)
{
	uint32_t i = (uint32_t)hash(k) & (cap - 1);

	while (e[i].value && !same(&e[i].key, k))
		i = (i + 1) & (cap - 1);
	return &e[i];
}

static int
grow(struct tfd_keymap *m)
{
	uint32_t cap = m->cap ? m->cap * 2 : 64;
	struct tfd_keymap_entry *e = calloc(cap, sizeof(*e));

	if (!e)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->e[i].value)
			*slot(e, cap, &m->e[i].key) = m->e[i];
	free(m->e);
	m->e = e;
	m->cap = cap;
	return 0;
}

int64_t
tfd_keymap_get_or_add(struct tfd_keymap *m, const struct tfd_usage_key *key, uint32_t next,
		      int *added)
{
	struct tfd_keymap_entry *s;

	*added = 0;
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -ENOMEM;
	s = slot(m->e, m->cap, key);
	if (s->value)
		return s->value - 1;
	s->key = *key;
	s->value = next + 1;
	m->n++;
	*added = 1;
	return next;
}

void
tfd_keymap_clear(struct tfd_keymap *m)
{
	if (m->e && m->n)
		memset(m->e, 0, m->cap * sizeof(*m->e));
	m->n = 0;
}

void
tfd_keymap_free(struct tfd_keymap *m)
{
	free(m->e);
	memset(m, 0, sizeof(*m));
}
