/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_hq_client: a host-local client of the card's host queues (hwdocs/kmod.md
 * "Host queues", include/tokfab/hostq.h), for tests/integration/test_dp_card*.sh
 * and tests/vm/test_dp_card.sh. It gets a queue bound to a tenant one of two
 * ways, then submits requests and prints what came back:
 *
 *   --dev /dev/tokfabN  through tokfab.ko: TOKFAB_IOC_HQ_CREATE (admin), then
 *                       optionally drops to --user UID before it maps and
 *                       uses the rings (what an unprivileged client does with
 *                       an fd an operator gave it);
 *   --bar FILE          without a driver: it plays the driver's part on the
 *                       BAR file itself (activation handshake of kmod.md).
 *
 *   dp_hq_client (--dev DEV [--user UID] | --bar FILE) --tenant T --model M
 *                --prompt 1,2,3 [--max-new N] [--requests N] [--inflight K]
 *                [--sq N] [--cq N] [--timeout S]
 *
 * Request i (0-based) has the prompt with (i % 5) + 4 appended and user_data
 * 1000 + i. One line per request, in the order they end:
 *   ud=1000 prompt=1,2,3,4 done outcome=0 prompt_tokens=4 completion_tokens=8
 *     cost=12 seq=17 tokens=5,9,...
 *   ud=1001 prompt=... error=3 detail=N
 * Exit 0 when every request ended (DONE or ERROR), 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tokfab/bar.h"
#include "tokfab/hostq.h"
#include "uapi/tokfab.h"

#define MAX_REQ 4096

struct req {
	uint32_t prompt[TF_HQ_PROMPT_MAX];
	unsigned int n_prompt;
	uint32_t *tok;
	unsigned int ntok;
	int ended;
};

static struct {
	const char *dev, *bar;
	long user;
	uint32_t tenant, model;
	uint32_t base[TF_HQ_PROMPT_MAX];
	unsigned int nbase, max_new, nreq, inflight, sq, cq, timeout_s;
} g = { .user = -1, .max_new = 8, .nreq = 1, .inflight = 4, .sq = 16, .cq = 64, .timeout_s = 120 };

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "dp_hq_client: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static uint32_t
ld32(const void *p)
{
	return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE);
}

static void
st32(void *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- getting a queue ---- */

struct queue {
	int fd; /* --dev: the host-queue fd (poll); else -1 */
	uint8_t *ring; /* the ring area */
	uint64_t sq_off, cq_off;
	/* --bar: the control page we drive, the mapping to undo */
	struct tf_hq_ctl *ctl;
	void *bar;
	size_t bar_len;
};

static void
queue_dev(struct queue *q)
{
	struct tokfab_hq_create hc = {
		.size = sizeof(hc), .tenant_id = g.tenant, .sq_entries = g.sq, .cq_entries = g.cq
	};

	q->fd = open(g.dev, O_RDWR | O_CLOEXEC);
	if (q->fd < 0)
		die("open %s: %s", g.dev, strerror(errno));
	if (ioctl(q->fd, TOKFAB_IOC_HQ_CREATE, &hc) < 0)
		die("TOKFAB_IOC_HQ_CREATE (tenant %u): %s", g.tenant, strerror(errno));
	if (g.user >= 0 &&
	    (setgroups(0, NULL) < 0 || setgid((gid_t)g.user) < 0 || setuid((uid_t)g.user) < 0))
		die("dropping to uid %ld: %s", g.user, strerror(errno));
	if (g.user >= 0 && (geteuid() == 0 || open(g.dev, O_RDWR) >= 0))
		die("still privileged after dropping to uid %ld", g.user);
	q->ring = mmap(NULL, hc.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, q->fd, 0);
	if (q->ring == MAP_FAILED)
		die("mmap of the rings: %s", strerror(errno));
	q->sq_off = hc.sq_off;
	q->cq_off = hc.cq_off;
	fprintf(stderr, "dp_hq_client: queue %u of %s for tenant %u (uid %d)\n", hc.queue, g.dev,
		g.tenant, (int)getuid());
}

/* The driver's part of kmod.md "Host queues", on the BAR file. */
static void
queue_bar(struct queue *q)
{
	struct tf_bar_regs *r;
	struct stat st;
	uint64_t deadline;
	uint32_t gen, i;
	int fd;

	q->fd = -1;
	fd = open(g.bar, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		die("%s: %s", g.bar, strerror(errno));
	q->bar_len = (size_t)st.st_size;
	q->bar = mmap(NULL, q->bar_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (q->bar == MAP_FAILED)
		die("mmap %s: %s", g.bar, strerror(errno));
	r = q->bar;
	if (ld32(&r->magic) != TF_BAR_MAGIC || !(r->card_features & TF_FEAT_HOST_QUEUES) ||
	    !r->hq_count || r->hq_off + (uint64_t)r->hq_count * r->hq_size > q->bar_len)
		die("%s: no card with host queues there", g.bar);
	for (i = 0; i < r->hq_count; i++) {
		q->ctl = (struct tf_hq_ctl *)((uint8_t *)q->bar + r->hq_off +
					      (size_t)i * r->hq_size);
		if (ld32(&q->ctl->state) == TF_HQ_FREE &&
		    ld32(&q->ctl->card_gen) == ld32(&q->ctl->gen))
			break;
	}
	if (i == r->hq_count)
		die("no free host queue window");
	if (TF_HQ_RING_BYTES(g.sq, g.cq) > r->hq_size - TF_HQ_CTL_SIZE)
		die("%u/%u entries do not fit a window of %u bytes", g.sq, g.cq, r->hq_size);
	q->ring = (uint8_t *)q->ctl + TF_HQ_CTL_SIZE;
	memset(q->ring, 0, TF_HQ_RING_BYTES(g.sq, g.cq));
	q->sq_off = TF_HQ_SQ_OFF;
	q->cq_off = TF_HQ_SQ_OFF + (uint64_t)g.sq * TF_HQ_SQE_SIZE;
	st32(&q->ctl->tenant_id, g.tenant);
	st32(&q->ctl->sq_entries, g.sq);
	st32(&q->ctl->cq_entries, g.cq);
	st32(&q->ctl->flags, 0);
	st32(&q->ctl->state, TF_HQ_ACTIVE);
	gen = ld32(&q->ctl->gen) + 1;
	st32(&q->ctl->gen, gen);
	for (deadline = now_ms() + 2000; ld32(&q->ctl->card_gen) != gen;) {
		if (now_ms() > deadline)
			die("the card did not take the queue within 2 s");
		usleep(1000);
	}
	if (ld32(&q->ctl->card_state) != TF_HQ_CARD_SERVING)
		die("the card refused the queue: state %u reason %u", ld32(&q->ctl->card_state),
		    ld32(&q->ctl->card_reason));
	fprintf(stderr, "dp_hq_client: window %u of %s for tenant %u\n", i, g.bar, g.tenant);
}

static void
queue_release(struct queue *q)
{
	if (q->fd >= 0) {
		close(q->fd);
		return;
	}
	st32(&q->ctl->state, TF_HQ_FREE);
	st32(&q->ctl->gen, ld32(&q->ctl->gen) + 1);
	munmap(q->bar, q->bar_len);
}

/* ---- requests ---- */

static void
print_prompt(const struct req *r)
{
	for (unsigned int k = 0; k < r->n_prompt; k++)
		printf("%s%u", k ? "," : "", r->prompt[k]);
}

static void
run(struct queue *q, struct req *rq)
{
	struct tf_hq_ring *ring = (struct tf_hq_ring *)q->ring;
	struct tf_hq_sqe *sq = (struct tf_hq_sqe *)(q->ring + q->sq_off);
	struct tf_hq_cqe *cq = (struct tf_hq_cqe *)(q->ring + q->cq_off);
	uint32_t sq_tail = 0, cq_head = 0;
	unsigned int submitted = 0, ended = 0;
	uint64_t progress = now_ms();

	while (ended < g.nreq) {
		while (submitted < g.nreq && submitted - ended < g.inflight &&
		       sq_tail - ld32(&ring->sq_head) < g.sq) {
			struct tf_hq_sqe *s = &sq[sq_tail & (g.sq - 1)];
			struct req *r = &rq[submitted];

			memset(s, 0, sizeof(*s));
			s->user_data = 1000 + submitted;
			s->model_id = g.model;
			s->n_prompt = (uint16_t)r->n_prompt;
			s->max_new_tokens = (uint16_t)g.max_new;
			memcpy(s->prompt, r->prompt, r->n_prompt * sizeof(uint32_t));
			st32(&ring->sq_tail, ++sq_tail);
			submitted++;
		}
		if (cq_head == ld32(&ring->cq_tail)) {
			if (q->fd >= 0) {
				struct pollfd pfd = { .fd = q->fd, .events = POLLIN };

				if (poll(&pfd, 1, 1000) > 0 && (pfd.revents & (POLLERR | POLLHUP)))
					die("the card stopped serving the queue (poll revents %#x)",
					    pfd.revents);
			} else {
				usleep(500);
			}
			if (now_ms() - progress > g.timeout_s * 1000ull)
				die("no completion for %u s (%u of %u requests ended)", g.timeout_s,
				    ended, g.nreq);
			continue;
		}
		progress = now_ms();
		while (cq_head != ld32(&ring->cq_tail)) {
			const struct tf_hq_cqe *e = &cq[cq_head & (g.cq - 1)];
			uint64_t ud = e->user_data;
			struct req *r;

			if (ud < 1000 || ud - 1000 >= submitted || rq[ud - 1000].ended)
				die("completion for user_data %llu, which is not waiting",
				    (unsigned long long)ud);
			r = &rq[ud - 1000];
			if (e->type == TF_HQ_TOKENS) {
				if (e->count == 0 || e->count > TF_HQ_CQE_TOKENS ||
				    r->ntok + e->count > g.max_new)
					die("request %llu: TOKENS with count %u after %u tokens",
					    (unsigned long long)ud, e->count, r->ntok);
				memcpy(r->tok + r->ntok, e->u.tokens, e->count * sizeof(uint32_t));
				r->ntok += e->count;
			} else if (e->type == TF_HQ_DONE) {
				printf("ud=%llu prompt=", (unsigned long long)ud);
				print_prompt(r);
				printf(" done outcome=%u prompt_tokens=%u completion_tokens=%u "
				       "cost=%llu seq=%llu tokens=",
				       e->status, e->u.done.prompt_tokens,
				       e->u.done.completion_tokens,
				       (unsigned long long)e->u.done.cost_micro,
				       (unsigned long long)e->u.done.event_seq);
				for (unsigned int k = 0; k < r->ntok; k++)
					printf("%s%u", k ? "," : "", r->tok[k]);
				printf("\n");
				r->ended = 1;
				ended++;
			} else if (e->type == TF_HQ_ERROR) {
				printf("ud=%llu prompt=", (unsigned long long)ud);
				print_prompt(r);
				printf(" error=%u detail=%u\n", e->status, e->u.done.detail);
				r->ended = 1;
				ended++;
			} else {
				die("completion type %u", e->type);
			}
			st32(&ring->cq_head, ++cq_head);
		}
		fflush(stdout);
	}
}

static unsigned int
parse_ids(const char *s, uint32_t *ids, unsigned int max)
{
	unsigned int n = 0;
	char *end;

	while (*s && n < max) {
		ids[n++] = (uint32_t)strtoul(s, &end, 0);
		if (end == s)
			die("--prompt: '%s' is not a list of token ids", s);
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "bar", required_argument, NULL, 'b' },
		{ "user", required_argument, NULL, 'u' },
		{ "tenant", required_argument, NULL, 't' },
		{ "model", required_argument, NULL, 'm' },
		{ "prompt", required_argument, NULL, 'p' },
		{ "max-new", required_argument, NULL, 'n' },
		{ "requests", required_argument, NULL, 'r' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "sq", required_argument, NULL, 's' },
		{ "cq", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct queue q = { .fd = -1 };
	struct req *rq;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'd':
			g.dev = optarg;
			break;
		case 'b':
			g.bar = optarg;
			break;
		case 'u':
			g.user = strtol(optarg, NULL, 0);
			break;
		case 't':
			g.tenant = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			g.model = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'p':
			g.nbase = parse_ids(optarg, g.base, TF_HQ_PROMPT_MAX - 1);
			break;
		case 'n':
			g.max_new = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			g.nreq = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'i':
			g.inflight = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 's':
			g.sq = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			g.cq = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'T':
			g.timeout_s = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		default:
			die("bad option (see the comment at the top of dp_hq_client.c)");
		}
	}
	if (!g.dev == !g.bar || !g.tenant || !g.model || !g.nbase || !g.nreq || g.nreq > MAX_REQ ||
	    !g.inflight || !g.max_new || g.max_new > TF_HQ_NEW_TOKENS_MAX)
		die("usage: dp_hq_client (--dev DEV [--user UID] | --bar FILE) --tenant T "
		    "--model M --prompt IDS [--max-new N] [--requests N] [--inflight K]");
	rq = calloc(g.nreq, sizeof(*rq));
	if (!rq)
		die("out of memory");
	for (unsigned int i = 0; i < g.nreq; i++) {
		memcpy(rq[i].prompt, g.base, g.nbase * sizeof(uint32_t));
		rq[i].prompt[g.nbase] = i % 5 + 4;
		rq[i].n_prompt = g.nbase + 1;
		rq[i].tok = calloc(g.max_new, sizeof(uint32_t));
		if (!rq[i].tok)
			die("out of memory");
	}
	if (g.dev)
		queue_dev(&q);
	else
		queue_bar(&q);
	run(&q, rq);
	queue_release(&q);
	for (unsigned int i = 0; i < g.nreq; i++)
		free(rq[i].tok);
	free(rq);
	return 0;
}
