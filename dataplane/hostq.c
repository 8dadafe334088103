/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host queues (hwdocs/kmod.md "Host queues", include/tokfab/hostq.h) served
 * by the request pipeline: the card's host-facing port.
 *
 * The host queues enter the pipeline through a port of their own, like a
 * second network port that faces the host: an ethdev over DPDK rings
 * (net_ring) with one RX and one TX queue per worker, set up by port.c like
 * every other port, polled by the workers in the same loop. The main lcore
 * is the other end of those rings:
 *
 *   SQE (tf_card_hq_poll) -> a signed REQUEST datagram in an mbuf, put on
 *     the RX ring of the worker that owns the queue's tenant
 *     -> the worker's pipeline exactly as for the network: parse, MAC and
 *        replay window, at-most-once, admission (budget, rates, queue
 *        bounds), batching, transport to the accelerator, streaming,
 *        FINAL, usage record
 *   TOKENS / FINAL / ERROR datagrams on the port's TX rings -> TOKENS, DONE
 *     and ERROR completions on the queue's CQ.
 *
 * Authentication of a host-queue request is the host driver's binding of the
 * queue to a tenant (only an admin creates a queue); the card signs the
 * datagram it makes with that tenant's current key so the pipeline's MAC
 * check passes, which therefore proves nothing more. The keys come from the
 * same SET_TENANT commands the workers get (tf_dp_hostq_tenant(), called by
 * the control bus).
 *
 * Request ids: TF_DP_HQ_ID_TAG in the top byte, then the job's generation
 * and index, unique for the card process. The usage record of such a request
 * is taken here from the workers' usage stream (tf_dp_hostq_usage()), its
 * request_id replaced by the SQE's user_data, posted to the event queue, and
 * its sequence number goes into the DONE completion.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_telemetry.h>

#include "card/card_hostq.h"
#include "dataplane/dp.h"
#include "dataplane/hostq.h"
#include "tokfab/proto.h"

#define HQ_JOBS 1024u /* host-queue requests in flight on the card (power of two) */
#define HQ_RING 1024u /* frames per RX/TX ring of the port */
#define HQ_TENANT_HASH 1024u
#define HQ_SILENCE_US 1000000ull /* no answer for this long: send the REQUEST again */
#define HQ_GAP_US 100000ull /* tokens missing: ask again at most this often */
#define HQ_PORT_UDP 49152 /* the host side's UDP port */
/* 169.254.0.2: the host side's address on the host-queue port (link-local). */
#define HQ_HOST_IP RTE_BE32(0xa9fe0002)
static const uint8_t hq_host_mac[6] = { 0x02, 0x74, 0x66, 0x68, 0x71, 0x00 };

/* A tenant's current key, for the datagrams made on its behalf. */
struct hq_tenant {
	uint32_t id;
	uint8_t alg; /* the MAC algorithm to sign with (SipHash when allowed) */
	struct tf_proto_key key;
	struct hq_tenant *next;
};

enum hq_job_state {
	HQ_FREE = 0,
	HQ_WAIT_RING, /* taken; its frame waits for room on the worker's RX ring */
	HQ_RUNNING, /* in the pipeline */
	HQ_ENDING, /* FINAL or ERROR seen: completions left to post */
};

struct hq_job {
	uint8_t state; /* enum hq_job_state */
	uint8_t final; /* FINAL seen */
	uint8_t have_rec; /* its usage record arrived */
	uint8_t rec_posted;
	uint8_t stale; /* the queue was released: nothing more to post there */
	uint16_t err; /* ERROR: enum tf_hq_error */
	uint32_t err_detail;
	uint32_t gen;
	unsigned int owner; /* worker */
	struct tf_card_hq_req req;
	uint32_t ntok; /* tokens received in order */
	uint32_t nposted; /* ... of them posted to the CQ */
	uint32_t *tok; /* max_new_tokens entries */
	uint64_t last_us; /* last answer (or send) */
	uint64_t ask_us; /* last retransmission */
	struct tf_usage_record rec;
	uint64_t event_seq;
	struct rte_mbuf *frame; /* HQ_WAIT_RING */
};

struct tf_dp_hostq {
	struct tf_dp_app *app;
	uint16_t port_id;
	struct rte_ring *rx[TF_DP_MAX_WORKERS]; /* main -> worker w */
	struct rte_ring *tx[TF_DP_MAX_WORKERS]; /* worker w -> main */
	struct tf_pkt_addr host; /* our end (source of requests) */
	struct tf_pkt_peer card; /* the pipeline's end */
	uint16_t ip_id;
	struct hq_tenant *tenants[HQ_TENANT_HASH];
	struct hq_job jobs[HQ_JOBS];
	uint32_t njobs, next_job, gen;
	struct tf_dp_hostq_stats st;
};

static struct hq_job *
job_of_id(struct tf_dp_hostq *hq, uint64_t id, uint32_t tenant)
{
	struct hq_job *j;

	if ((id >> 56) != TF_DP_HQ_ID_TAG)
		return NULL;
	j = &hq->jobs[id & (HQ_JOBS - 1)];
	if (j->state == HQ_FREE || j->gen != (uint32_t)(id >> 16 & 0xffffffffffull) ||
	    j->req.tenant_id != tenant)
		return NULL;
	return j;
}

static uint64_t
job_id(const struct tf_dp_hostq *hq, const struct hq_job *j)
{
	return (uint64_t)TF_DP_HQ_ID_TAG << 56 | (uint64_t)(j->gen & 0xffffffffffull) << 16 |
	       (uint64_t)(j - hq->jobs);
}

/* ---- tenants' keys ---- */

static struct hq_tenant **
tenant_slot(struct tf_dp_hostq *hq, uint32_t id)
{
	struct hq_tenant **pp = &hq->tenants[(id * 2654435761u) >> 22 & (HQ_TENANT_HASH - 1)];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	return pp;
}

void
tf_dp_hostq_tenant(void *arg, uint32_t id, const struct tf_aq_set_tenant *cmd)
{
	struct tf_dp_hostq *hq = arg;
	struct hq_tenant **pp = tenant_slot(hq, id), *t = *pp;
	uint32_t algs;

	if (!cmd) {
		if (t) {
			*pp = t->next;
			tf_proto_key_wipe(&t->key);
			free(t);
		}
		return;
	}
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t) {
			TF_DP_LOG(ERR,
				  "host queues: no memory for tenant %u's key: its host-queue "
				  "requests are refused",
				  id);
			return;
		}
		t->id = id;
		*pp = t;
	}
	algs = cmd->mac_algs ? cmd->mac_algs : TF_TENANT_MAC_HMAC_SHA256;
	t->alg = (algs & TF_PROTO_MAC_BIT(TF_PROTO_MAC_SIPHASH)) ? TF_PROTO_MAC_SIPHASH
								 : TF_PROTO_MAC_HMAC_SHA256;
	/* The worker accepted these bytes already (tables.c): init cannot fail here. */
	if (tf_proto_key_init(&t->key, t->alg, cmd->key_id, cmd->key, cmd->key_len) < 0 ||
	    tf_proto_key_restrict(&t->key, algs) < 0) {
		*pp = t->next;
		free(t);
	}
}

/* ---- the port ---- */

/* The one port of the process, for its telemetry command. */
static struct tf_dp_hostq *g_hq;

static int
cb_hostq(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct tf_dp_hostq_stats st;

	(void)cmd;
	(void)params;
	if (!g_hq)
		return -ENOENT;
	tf_dp_hostq_stats(g_hq, &st);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "port", g_hq->port_id);
	rte_tel_data_add_dict_u64(d, "taken", st.taken);
	rte_tel_data_add_dict_u64(d, "refused", st.refused);
	rte_tel_data_add_dict_u64(d, "done", st.done);
	rte_tel_data_add_dict_u64(d, "errors", st.errors);
	rte_tel_data_add_dict_u64(d, "tokens", st.tokens);
	rte_tel_data_add_dict_u64(d, "retransmits", st.retransmits);
	rte_tel_data_add_dict_u64(d, "stray", st.stray);
	rte_tel_data_add_dict_u64(d, "stray_records", st.stray_records);
	rte_tel_data_add_dict_u64(d, "bad_frames", st.bad_frames);
	rte_tel_data_add_dict_u64(d, "in_flight", st.in_flight);
	return 0;
}

int
tf_dp_hostq_create(struct tf_dp_app *app, struct tf_dp_hostq **out)
{
	struct tf_dp_hostq *hq;
	char name[RTE_RING_NAMESIZE];
	int port;

	*out = NULL;
	hq = calloc(1, sizeof(*hq));
	if (!hq)
		return -ENOMEM;
	hq->app = app;
	for (unsigned int w = 0; w < app->nworkers; w++) {
		snprintf(name, sizeof(name), "tf_hq_rx%u", w);
		hq->rx[w] = rte_ring_create(name, HQ_RING, rte_socket_id(),
					    RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "tf_hq_tx%u", w);
		hq->tx[w] = rte_ring_create(name, HQ_RING, rte_socket_id(),
					    RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (!hq->rx[w] || !hq->tx[w])
			goto err;
	}
	port = rte_eth_from_rings("tf_hostq", hq->rx, app->nworkers, hq->tx, app->nworkers,
				  rte_socket_id());
	if (port < 0)
		goto err;
	hq->port_id = (uint16_t)port;
	*out = hq;
	return 0;
err:
	TF_DP_LOG(ERR, "host queues: cannot create the host-queue port: %s",
		  rte_strerror(rte_errno));
	for (unsigned int w = 0; w < app->nworkers; w++) {
		rte_ring_free(hq->rx[w]);
		rte_ring_free(hq->tx[w]);
	}
	free(hq);
	return -ENOMEM;
}

void
tf_dp_hostq_start(struct tf_dp_hostq *hq)
{
	struct rte_ether_addr mac;

	rte_eth_macaddr_get(hq->port_id, &mac);
	memcpy(hq->card.mac, mac.addr_bytes, 6);
	hq->card.ip = hq->app->cfg.ipv4;
	hq->card.port = rte_cpu_to_be_16(hq->app->cfg.udp_port);
	memcpy(hq->host.mac, hq_host_mac, 6);
	hq->host.ip = HQ_HOST_IP;
	hq->host.udp_port = rte_cpu_to_be_16(HQ_PORT_UDP);
	g_hq = hq;
	rte_telemetry_register_cmd("/tokfab/hostq", cb_hostq,
				   "Host queues: requests taken, refused, done, errors, tokens, "
				   "retransmits, stray answers, in flight");
	TF_DP_LOG(INFO, "host queues: served through port %u (tf_hostq)", hq->port_id);
}

uint16_t
tf_dp_hostq_port(const struct tf_dp_hostq *hq)
{
	return hq->port_id;
}

/* A REQUEST (or its retransmission) for job j, signed with its tenant's key. */
static struct rte_mbuf *
make_request(struct tf_dp_hostq *hq, struct hq_job *j, int retransmit)
{
	const struct tf_hq_sqe *s = &j->req.sqe;
	struct hq_tenant *t = *tenant_slot(hq, j->req.tenant_id);
	uint8_t prompt[4 * TF_HQ_PROMPT_MAX];
	struct tf_proto_msg m;
	struct rte_mbuf *mb;
	uint16_t hlen = tf_pkt_udp_hdr_len(&hq->card);
	uint8_t *p;
	int len;

	if (!t)
		return NULL;
	mb = rte_pktmbuf_alloc(hq->app->pool);
	if (!mb)
		return NULL;
	for (unsigned int i = 0; i < s->n_prompt; i++)
		tf_proto_st32(prompt + 4 * i, s->prompt[i]);
	memset(&m, 0, sizeof(m));
	m.version = TF_PROTO_VERSION;
	m.type = TF_PROTO_T_REQUEST;
	m.flags = retransmit ? TF_PROTO_F_RETRANSMIT : 0;
	m.mac_alg = t->alg;
	m.key_id = t->key.key_id;
	m.tenant_id = j->req.tenant_id;
	m.request_id = job_id(hq, j);
	m.timestamp_us = tf_dp_now_us(hq->app) + hq->app->wall_offset_us;
	m.u.req.model_id = s->model_id;
	m.u.req.max_new_tokens = s->max_new_tokens;
	m.u.req.prompt_total_len = 4u * s->n_prompt;
	m.u.req.prompt_kind = TF_PROTO_PROMPT_TOKENS;
	m.u.req.priority = TF_PROTO_DEFAULT_PRIORITY;
	m.u.req.req_flags = TF_PROTO_RF_FINAL_TOKENS;
	m.u.req.temperature = 0; /* greedy: an SQE has no sampling parameters */
	m.u.req.top_p = TF_PROTO_MAX_TOP_P;
	m.u.req.prompt = prompt;
	m.u.req.prompt_len = 4u * s->n_prompt;
	p = rte_pktmbuf_mtod(mb, uint8_t *);
	len = tf_proto_encode(p + hlen, rte_pktmbuf_tailroom(mb) - hlen, &m, &t->key);
	if (len < 0) {
		rte_pktmbuf_free(mb);
		return NULL;
	}
	tf_pkt_udp_build(p, &hq->host, &hq->card, (uint16_t)len, hq->ip_id++, 1);
	mb->data_len = (uint16_t)(hlen + len);
	mb->pkt_len = mb->data_len;
	return mb;
}

/* ---- taking requests from the queues ---- */

static int
take(void *ctx, const struct tf_card_hq_req *req)
{
	struct tf_dp_hostq *hq = ctx;
	struct hq_job *j = NULL;

	if (!*tenant_slot(hq, req->tenant_id)) {
		hq->st.refused++;
		return TF_HQ_E_TENANT; /* the card does not know the queue's tenant */
	}
	for (uint32_t k = 0; k < HQ_JOBS; k++) {
		struct hq_job *c = &hq->jobs[(hq->next_job + k) & (HQ_JOBS - 1)];

		if (c->state == HQ_FREE) {
			j = c;
			break;
		}
	}
	if (!j) {
		hq->st.refused++;
		return TF_HQ_E_BUSY;
	}
	memset(j, 0, sizeof(*j));
	j->tok = malloc(sizeof(*j->tok) * req->sqe.max_new_tokens);
	if (!j->tok) {
		hq->st.refused++;
		return TF_HQ_E_BUSY;
	}
	hq->next_job = (uint32_t)(j - hq->jobs) + 1;
	j->gen = ++hq->gen;
	j->req = *req;
	j->owner = tf_dp_tenant_owner(req->tenant_id, hq->app->nworkers);
	j->last_us = tf_dp_now_us(hq->app);
	j->frame = make_request(hq, j, 0);
	if (!j->frame) {
		free(j->tok);
		j->tok = NULL;
		hq->st.refused++;
		return TF_HQ_E_BUSY;
	}
	j->state = HQ_WAIT_RING;
	hq->njobs++;
	hq->st.taken++;
	return 0;
}

/* ---- answers from the pipeline ---- */

static void
add_tokens(struct hq_job *j, const struct tf_proto_tokens *t, uint64_t now)
{
	uint32_t max = j->req.sqe.max_new_tokens;

	j->last_us = now;
	if (t->first_seq > j->ntok) {
		j->ask_us = j->ask_us ? j->ask_us : 1; /* a gap: ask again (poll_jobs) */
		return;
	}
	for (uint32_t i = j->ntok - t->first_seq; i < t->n_tokens && j->ntok < max; i++)
		j->tok[j->ntok++] = tf_proto_token_id(t, i);
}

static uint16_t
hq_error_of(uint16_t code)
{
	switch (code) {
	case TF_PROTO_E_UNKNOWN_MODEL:
		return TF_HQ_E_MODEL;
	case TF_PROTO_E_QUOTA_EXHAUSTED:
		return TF_HQ_E_QUOTA;
	case TF_PROTO_E_TOO_LARGE:
		return TF_HQ_E_TOO_LARGE;
	case TF_PROTO_E_UNKNOWN_TENANT:
		return TF_HQ_E_TENANT;
	default: /* BUSY, RATE_LIMITED, and anything the card could not finish */
		return TF_HQ_E_BUSY;
	}
}

static void
on_datagram(struct tf_dp_hostq *hq, const uint8_t *frame, uint32_t len, uint64_t now)
{
	struct tf_pkt_info pi;
	enum tf_dp_drop why;
	struct tf_proto_msg m;
	struct hq_job *j;

	if (tf_pkt_parse(frame, len, &hq->host, &pi, &why) != TF_PKT_UDP ||
	    tf_proto_decode(frame + pi.payload_off, pi.payload_len, &m) < 0) {
		hq->st.bad_frames++;
		return;
	}
	j = job_of_id(hq, m.request_id, m.tenant_id);
	if (!j || j->state == HQ_WAIT_RING) {
		hq->st.stray++; /* a late answer to a job that ended (a retransmission's) */
		return;
	}
	switch (m.type) {
	case TF_PROTO_T_TOKENS:
		add_tokens(j, &m.u.tokens, now);
		break;
	case TF_PROTO_T_FINAL:
		if (m.u.final.final_flags & TF_PROTO_FF_HAS_TOKENS)
			add_tokens(j, &m.u.final.tokens, now);
		j->last_us = now;
		if (m.u.final.completion_tokens > j->ntok) {
			j->ask_us = j->ask_us ? j->ask_us : 1; /* tokens were lost on the way */
			break;
		}
		j->final = 1;
		j->state = HQ_ENDING;
		break;
	case TF_PROTO_T_ERROR:
		if (j->final)
			break;
		/* Refused before it ran (no usage record), or a retransmission refused. */
		j->err = hq_error_of(m.u.err.code);
		j->err_detail = m.u.err.code << 16 | (m.u.err.retry_after_ms & 0xffff);
		j->state = HQ_ENDING;
		break;
	default:
		hq->st.bad_frames++;
		break;
	}
}

int
tf_dp_hostq_usage(struct tf_dp_hostq *hq, const struct tf_usage_record *u)
{
	struct hq_job *j = job_of_id(hq, u->request_id, u->tenant_id);

	if ((u->request_id >> 56) != TF_DP_HQ_ID_TAG)
		return 0;
	if (!j || j->have_rec) {
		/* Never for a request we did not make; keep it rather than lose money. */
		hq->st.stray_records++;
		return 0;
	}
	j->rec = *u;
	j->rec.request_id = j->req.sqe.user_data;
	j->have_rec = 1;
	return 1;
}

/* ---- completions ---- */

static void
job_free(struct tf_dp_hostq *hq, struct hq_job *j)
{
	if (j->frame)
		rte_pktmbuf_free(j->frame);
	free(j->tok);
	memset(j, 0, sizeof(*j));
	hq->njobs--;
}

/* Posts what it can of job j. Returns 1 when the job is finished. */
static int
advance(struct tf_dp_hostq *hq, struct hq_job *j)
{
	struct tf_card_dev *dev = hq->app->card;
	int rc;

	/* Tokens as far as the completion queue has room. */
	while (!j->stale && j->nposted < j->ntok) {
		uint32_t room = tf_card_hq_room(dev, &j->req), n = j->ntok - j->nposted;

		if (room == 0) {
			/* Full, or released: posting nothing tells which. */
			rc = tf_card_hq_tokens(dev, &j->req, j->tok, 0);
			if (rc == -ESTALE)
				j->stale = 1;
			break;
		}
		if (n > room * TF_HQ_CQE_TOKENS)
			n = room * TF_HQ_CQE_TOKENS;
		rc = tf_card_hq_tokens(dev, &j->req, j->tok + j->nposted, n);
		if (rc == -ESTALE)
			j->stale = 1;
		if (rc)
			break;
		j->nposted += n;
		hq->st.tokens += n;
	}
	if (j->state != HQ_ENDING)
		return 0;
	if (j->err) {
		rc = j->stale ? -ESTALE : tf_card_hq_error(dev, &j->req, j->err, j->err_detail);
		if (rc == -EAGAIN)
			return 0;
		hq->st.errors++;
		return 1;
	}
	/* The usage record reaches the host's ledger even when the queue is gone. */
	if (!j->have_rec)
		return 0;
	if (!j->rec_posted) {
		rc = tf_card_dev_post_usage(dev, &j->rec, &j->event_seq);
		if (rc == -EAGAIN)
			return 0; /* event queue full: the ledger first, then the completion */
		if (rc < 0)
			TF_DP_LOG(ERR, "host queues: usage record refused by lib/card: %s",
				  strerror(-rc));
		else
			hq->app->rec.posted++;
		j->rec_posted = 1;
	}
	if (!j->stale) {
		struct tf_card_hq_done d = {
			.outcome = j->rec.outcome,
			.prompt_tokens = j->rec.prompt_tokens,
			.completion_tokens = j->rec.completion_tokens,
			.cost_micro = j->rec.cost_micro,
			.event_seq = j->event_seq,
		};

		if (j->nposted < j->ntok)
			return 0;
		rc = tf_card_hq_done(dev, &j->req, &d);
		if (rc == -EAGAIN)
			return 0;
	}
	hq->st.done++;
	return 1;
}

unsigned int
tf_dp_hostq_poll(struct tf_dp_hostq *hq, int take_new)
{
	struct tf_dp_app *app = hq->app;
	struct rte_mbuf *mbs[32];
	uint64_t now = tf_dp_now_us(app);
	unsigned int work = 0, n, budget;

	/* Answers first: they free completion slots and jobs. */
	for (unsigned int w = 0; w < app->nworkers; w++) {
		while ((n = rte_ring_sc_dequeue_burst(hq->tx[w], (void **)mbs, 32, NULL)) > 0) {
			for (unsigned int i = 0; i < n; i++) {
				on_datagram(hq, rte_pktmbuf_mtod(mbs[i], const uint8_t *),
					    mbs[i]->data_len, now);
				rte_pktmbuf_free(mbs[i]);
			}
			work += n;
		}
	}
	budget = HQ_JOBS - hq->njobs;
	if (budget && take_new)
		work += (unsigned int)tf_card_hq_poll(app->card, take, hq,
						      budget < 64 ? budget : 64);
	for (uint32_t k = 0; hq->njobs && k < HQ_JOBS; k++) {
		struct hq_job *j = &hq->jobs[k];

		switch (j->state) {
		case HQ_FREE:
			continue;
		case HQ_WAIT_RING:
			if (rte_ring_sp_enqueue(hq->rx[j->owner], j->frame) == 0) {
				j->frame = NULL;
				j->state = HQ_RUNNING;
				j->last_us = now;
				work++;
			}
			continue;
		case HQ_RUNNING:
			/*
			 * Silence or a gap: the request again (the pipeline answers a
			 * duplicate with what it has so far, or from its response cache).
			 */
			if ((j->ask_us && now - j->ask_us >= HQ_GAP_US) ||
			    now - j->last_us >= HQ_SILENCE_US) {
				struct rte_mbuf *mb = make_request(hq, j, 1);

				if (mb && rte_ring_sp_enqueue(hq->rx[j->owner], mb) == 0) {
					hq->st.retransmits++;
					j->ask_us = 0;
					j->last_us = now;
				} else if (mb) {
					rte_pktmbuf_free(mb);
				}
			}
			break;
		default:
			break;
		}
		if (advance(hq, j)) {
			job_free(hq, j);
			work++;
		}
	}
	return work;
}

unsigned int
tf_dp_hostq_busy(const struct tf_dp_hostq *hq)
{
	return hq->njobs;
}

void
tf_dp_hostq_stats(const struct tf_dp_hostq *hq, struct tf_dp_hostq_stats *st)
{
	*st = hq->st;
	st->in_flight = hq->njobs;
}

void
tf_dp_hostq_destroy(struct tf_dp_hostq *hq)
{
	if (!hq)
		return;
	for (uint32_t k = 0; k < HQ_JOBS; k++) {
		struct hq_job *j = &hq->jobs[k];

		if (j->state == HQ_FREE)
			continue;
		/* A record that never reached the event queue is the host's money: keep it. */
		if (j->have_rec && !j->rec_posted && tf_dp_records_room(&hq->app->rec))
			tf_dp_records_push(
				&hq->app->rec,
				&(struct tf_dp_usage_ev){ .type = TF_EQ_USAGE, .u.rec = j->rec });
		job_free(hq, j);
	}
	for (uint32_t b = 0; b < HQ_TENANT_HASH; b++)
		while (hq->tenants[b]) {
			struct hq_tenant *t = hq->tenants[b];

			hq->tenants[b] = t->next;
			tf_proto_key_wipe(&t->key);
			free(t);
		}
	/* The rings go with the port (rte_eth_dev_close) or the EAL. */
	if (g_hq == hq)
		g_hq = NULL;
	free(hq);
}
