/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Card side (card_*.c) against the host "shm" access path (host_shm.c, host.c)
 * over a BAR file on tmpfs: bring-up, reset handshake, admin round trips and
 * errors, event posting with back-pressure and acknowledgements, resume after
 * a card restart (sequence numbers and unacknowledged events survive), fresh
 * BARs (new epoch), ownership locks and protocol violations by the host.
 */
#include "card/card.h"
#include "card/check.h"
#include "card/host.h"
#include "tf_cunit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char g_path[128];

static struct tf_card_dev_params
params(void)
{
	struct tf_card_dev_params p = {
		.path = g_path,
		.aq_depth = 4,
		.eq_depth = 8,
		.hb_period_ms = 10,
		.features = TF_FEAT_HEALTH_EVENTS,
		.fw_version = TF_FW_VERSION(1, 2, 3),
		.fw_version_str = "1.2.3",
		.serial = "TF-UT-0001",
		.max_tenants = 4,
		.max_models = 4,
		.max_accels = 4,
		.n_ports = 1,
	};
	return p;
}

static int
suite_init(void)
{
	snprintf(g_path, sizeof(g_path), "/dev/shm/tf-card-ut.%d", (int)getpid());
	if (access("/dev/shm", W_OK) != 0)
		snprintf(g_path, sizeof(g_path), "/tmp/tf-card-ut.%d", (int)getpid());
	unlink(g_path);
	return 0;
}

static int
suite_fini(void)
{
	unlink(g_path);
	return 0;
}

/* ---------------------------------------------------------- test firmware */

struct fake_fw {
	struct tf_aq_set_tenant tenants[4];
	int n;
	int bad_health; /* answer GET_HEALTH with a response that breaks the spec */
};

static int
fw_set_tenant(void *ctx, const struct tf_aq_set_tenant *cmd, struct tf_aq_tenant_info *resp,
	      uint32_t *detail)
{
	struct fake_fw *fw = ctx;

	if (fw->n == 4) {
		*detail = 4;
		return TF_AQ_S_NO_SPACE;
	}
	fw->tenants[fw->n++] = *cmd;
	resp->tenant_id = cmd->tenant_id;
	resp->budget_micro = cmd->budget_micro;
	resp->balance_micro = cmd->budget_micro;
	return TF_AQ_S_OK;
}

static int
fw_get_tenant(void *ctx, uint32_t id, struct tf_aq_tenant_info *resp, uint32_t *detail)
{
	struct fake_fw *fw = ctx;

	for (int i = 0; i < fw->n; i++)
		if (fw->tenants[i].tenant_id == id) {
			resp->tenant_id = id;
			resp->budget_micro = fw->tenants[i].budget_micro;
			resp->balance_micro = fw->tenants[i].budget_micro;
			return TF_AQ_S_OK;
		}
	*detail = id;
	return TF_AQ_S_NOT_FOUND;
}

static int
fw_get_health(void *ctx, uint32_t first, struct tf_aq_health *resp, uint32_t *detail)
{
	struct fake_fw *fw = ctx;

	resp->total = 1;
	if (first > 1) {
		*detail = offsetof(struct tf_aq_get_health, first);
		return TF_AQ_S_BAD_FIELD;
	}
	resp->count = 1 - first;
	if (resp->count) {
		resp->e[0].component = TF_HC_CARD;
		resp->e[0].state = TF_HS_UP;
		resp->e[0].since_ns = 1;
		if (fw->bad_health)
			resp->e[0].state = 9;
	}
	return TF_AQ_S_OK;
}

static const struct tf_card_admin_handlers g_handlers = {
	.set_tenant = fw_set_tenant,
	.get_tenant = fw_get_tenant,
	.get_health = fw_get_health,
};

/* The card's main loop, in a thread. */
struct card_loop {
	struct tf_card_dev *dev;
	struct fake_fw fw;
	volatile int stop;
	pthread_t thr;
	int proto_errors;
};

static void *
card_loop_run(void *arg)
{
	struct card_loop *cl = arg;

	while (!cl->stop) {
		if (tf_card_dev_poll_admin(cl->dev, &g_handlers, &cl->fw) == -EPROTO)
			cl->proto_errors++;
		tf_card_dev_heartbeat(cl->dev);
		usleep(100);
	}
	return NULL;
}

static void
card_loop_start(struct card_loop *cl, struct tf_card_dev *dev)
{
	memset(cl, 0, sizeof(*cl));
	cl->dev = dev;
	CU_ASSERT_FATAL(pthread_create(&cl->thr, NULL, card_loop_run, cl) == 0);
}

static void
card_loop_stop(struct card_loop *cl)
{
	cl->stop = 1;
	pthread_join(cl->thr, NULL);
}

static struct tf_card_dev *
card_new(unsigned int flags)
{
	struct tf_card_dev_params p = params();
	struct tf_card_dev *dev = NULL;

	p.flags = flags;
	CU_ASSERT_FATAL(tf_card_dev_create(&p, &dev) == 0);
	return dev;
}

static struct tf_card_host *
host_open(void)
{
	struct tf_card_host *h = NULL;
	char spec[160];
	const char *why;

	snprintf(spec, sizeof(spec), "shm:%s", g_path);
	CU_ASSERT_FATAL(tf_card_host_open(spec, &h, &why) == 0);
	return h;
}

static struct tf_usage_record
usage(uint64_t req)
{
	struct tf_usage_record u = {
		.request_id = req,
		.tenant_id = 1,
		.model_id = 1,
		.accel_id = 1,
		.prompt_tokens = 3,
		.completion_tokens = 5,
		.cost_micro = 1,
		.end_time_ns = tf_card_now_ns(),
	};
	return u;
}

/* ------------------------------------------------------------------ tests */

static void
test_open_reads_identity(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH);
	struct tf_card_host *h = host_open();
	struct tf_card_info in;

	CU_ASSERT_EQUAL(h->ops->info(h, &in), 0);
	CU_ASSERT_STRING_EQUAL(in.serial, "TF-UT-0001");
	CU_ASSERT_STRING_EQUAL(in.fw_version_str, "1.2.3");
	CU_ASSERT_EQUAL(in.fw_version, TF_FW_VERSION(1, 2, 3));
	CU_ASSERT_EQUAL(in.epoch, tf_card_dev_epoch(dev));
	CU_ASSERT_NOT_EQUAL(in.epoch, 0);
	CU_ASSERT_EQUAL(in.aq_depth, 4);
	CU_ASSERT_EQUAL(in.eq_depth, 8);
	CU_ASSERT_EQUAL(in.boot_count, 1);
	CU_ASSERT_EQUAL(in.bar_size, tf_card_dev_bar_size(dev));
	tf_card_host_close(h);
	tf_card_dev_destroy(dev);
}

static void
test_admin_round_trip(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH);
	struct tf_card_host *h = host_open();
	struct card_loop cl;
	struct tf_aq_identity ident;
	struct tf_aq_set_tenant t;
	struct tf_aq_tenant_info ti;
	struct tf_aq_id id = { .id = 99 };
	struct tf_aq_health hp;
	struct tf_aq_get_health gh = { 0 };
	struct tf_aq_card_stats cs;
	struct tf_aq_get_stats gs = { .scope = TF_STATS_CARD };
	uint16_t st;
	uint32_t detail;

	card_loop_start(&cl, dev);
	CU_ASSERT_EQUAL(
		tf_card_cmd(h, TF_AQ_IDENTIFY, NULL, &ident, sizeof(ident), &st, &detail, 1000),
		-ENOTCONN); /* no handshake yet */
	CU_ASSERT_EQUAL_FATAL(h->ops->reset(h, 2000), 0);
	CU_ASSERT_EQUAL(
		tf_card_cmd(h, TF_AQ_IDENTIFY, NULL, &ident, sizeof(ident), &st, &detail, 1000), 0);
	CU_ASSERT_EQUAL(st, TF_AQ_S_OK);
	CU_ASSERT_STRING_EQUAL(ident.serial, "TF-UT-0001");
	CU_ASSERT_EQUAL(ident.epoch, tf_card_dev_epoch(dev));

	memset(&t, 0, sizeof(t));
	t.tenant_id = 5;
	strcpy(t.name, "acme");
	t.key_len = 32;
	memset(t.key, 7, 32);
	t.budget_micro = 1000;
	/* more commands than the queue is deep: indexes wrap */
	for (int i = 0; i < 3; i++) {
		t.tenant_id = 5 + (uint32_t)i;
		CU_ASSERT_EQUAL(
			tf_card_cmd(h, TF_AQ_SET_TENANT, &t, &ti, sizeof(ti), &st, &detail, 1000),
			0);
		CU_ASSERT_EQUAL(st, TF_AQ_S_OK);
		CU_ASSERT_EQUAL(ti.tenant_id, 5 + (uint32_t)i);
	}
	CU_ASSERT_EQUAL(tf_card_cmd(h, TF_AQ_GET_TENANT, &id, &ti, sizeof(ti), &st, &detail, 1000),
			0);
	CU_ASSERT_EQUAL(st, TF_AQ_S_NOT_FOUND);
	CU_ASSERT_EQUAL(detail, 99);
	id.id = 6;
	CU_ASSERT_EQUAL(tf_card_cmd(h, TF_AQ_GET_TENANT, &id, &ti, sizeof(ti), &st, &detail, 1000),
			0);
	CU_ASSERT_EQUAL(st, TF_AQ_S_OK);
	CU_ASSERT_EQUAL(ti.budget_micro, 1000);

	/* A field the card's library rejects before the firmware sees it. */
	t.key_len = 3;
	CU_ASSERT_EQUAL(tf_card_cmd(h, TF_AQ_SET_TENANT, &t, &ti, sizeof(ti), &st, &detail, 1000),
			0);
	CU_ASSERT_EQUAL(st, TF_AQ_S_BAD_FIELD);
	CU_ASSERT_EQUAL(detail, 16 + offsetof(struct tf_aq_set_tenant, key_len));
	CU_ASSERT_EQUAL(cl.fw.n, 3);
	/* No handler: UNSUPPORTED. */
	id.id = 6;
	CU_ASSERT_EQUAL(tf_card_cmd(h, TF_AQ_DEL_TENANT, &id, NULL, 0, &st, &detail, 1000), 0);
	CU_ASSERT_EQUAL(st, TF_AQ_S_UNSUPPORTED);
	/* Firmware answers that break the spec never leave the card. */
	CU_ASSERT_EQUAL(tf_card_cmd(h, TF_AQ_GET_HEALTH, &gh, &hp, sizeof(hp), &st, &detail, 1000),
			0);
	CU_ASSERT_EQUAL(st, TF_AQ_S_OK);
	CU_ASSERT_EQUAL(hp.count, 1);
	/* A handler's BAD_FIELD names a request-relative offset; the SQE offset goes back. */
	gh.first = 5;
	CU_ASSERT_EQUAL(tf_card_cmd(h, TF_AQ_GET_HEALTH, &gh, &hp, sizeof(hp), &st, &detail, 1000),
			0);
	CU_ASSERT_EQUAL(st, TF_AQ_S_BAD_FIELD);
	CU_ASSERT_EQUAL(detail, 16 + offsetof(struct tf_aq_get_health, first));
	gh.first = 0;
	cl.fw.bad_health = 1;
	CU_ASSERT_EQUAL(tf_card_cmd(h, TF_AQ_GET_HEALTH, &gh, &hp, sizeof(hp), &st, &detail, 1000),
			0);
	CU_ASSERT_EQUAL(st, TF_AQ_S_INTERNAL);
	/* Card stats without a handler: the library's own counters. */
	CU_ASSERT_EQUAL(tf_card_cmd(h, TF_AQ_GET_STATS, &gs, &cs, sizeof(cs), &st, &detail, 1000),
			0);
	CU_ASSERT_EQUAL(st, TF_AQ_S_OK);
	CU_ASSERT(cs.uptime_ns > 0);
	card_loop_stop(&cl);
	tf_card_host_close(h);
	tf_card_dev_destroy(dev);
}

static void
test_reset_times_out_without_card(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH);
	struct tf_card_host *h = host_open();

	/* Nobody polls the card: the handshake cannot complete. */
	CU_ASSERT_EQUAL(h->ops->reset(h, 50), -ETIMEDOUT);
	tf_card_host_close(h);
	tf_card_dev_destroy(dev);
}

static void
test_card_restart_needs_handshake(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH);
	struct tf_card_host *h = host_open();
	struct tf_aq_identity ident;
	struct card_loop cl;
	uint64_t epoch = tf_card_dev_epoch(dev);
	uint16_t st;
	uint32_t detail;

	card_loop_start(&cl, dev);
	CU_ASSERT_EQUAL_FATAL(h->ops->reset(h, 2000), 0);
	card_loop_stop(&cl);
	tf_card_dev_destroy(dev);
	/* The card restarts (resume): ENABLE is still set, but it must not serve. */
	dev = card_new(0);
	CU_ASSERT_EQUAL(tf_card_dev_epoch(dev), epoch);
	card_loop_start(&cl, dev);
	usleep(20000);
	CU_ASSERT_EQUAL(
		tf_card_cmd(h, TF_AQ_IDENTIFY, NULL, &ident, sizeof(ident), &st, &detail, 200),
		-ECONNRESET);
	CU_ASSERT_EQUAL_FATAL(h->ops->reset(h, 2000), 0);
	CU_ASSERT_EQUAL(
		tf_card_cmd(h, TF_AQ_IDENTIFY, NULL, &ident, sizeof(ident), &st, &detail, 1000), 0);
	CU_ASSERT_EQUAL(ident.boot_count, 2);
	card_loop_stop(&cl);
	tf_card_host_close(h);
	tf_card_dev_destroy(dev);
}

static void
test_events_backpressure_and_ack(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH);
	struct tf_card_host *h = host_open();
	struct tf_usage_record u;
	struct tf_eq_entry ev[16];
	struct tf_card_dev_stats cs;
	const char *why;
	uint64_t seq;
	int n;

	CU_ASSERT_EQUAL(tf_card_dev_eq_room(dev), 8);
	for (uint64_t i = 1; i <= 8; i++) {
		u = usage(i);
		CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, &seq), 0);
		CU_ASSERT_EQUAL(seq, i);
	}
	u = usage(9);
	CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, &seq), -EAGAIN);
	CU_ASSERT_EQUAL(tf_card_dev_eq_room(dev), 0);
	n = tf_card_events(h, ev, 16, &why);
	CU_ASSERT_EQUAL_FATAL(n, 8);
	for (int i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(ev[i].seq, (uint64_t)i + 1);
		CU_ASSERT_EQUAL(ev[i].body.usage.request_id, (uint64_t)i + 1);
	}
	/* Read but not acknowledged: still full. */
	CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, &seq), -EAGAIN);
	CU_ASSERT_EQUAL(h->ops->event_ack(h, 9), -EINVAL); /* not read yet */
	CU_ASSERT_EQUAL(h->ops->event_ack(h, 3), 0);
	CU_ASSERT_EQUAL(tf_card_dev_eq_room(dev), 3);
	CU_ASSERT_EQUAL(h->ops->event_ack(h, 2), -EINVAL); /* backwards */
	CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, &seq), 0);
	CU_ASSERT_EQUAL(seq, 9);
	n = tf_card_events(h, ev, 16, &why);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(ev[0].seq, 9);
	CU_ASSERT_EQUAL(ev[0].body.usage.request_id, 9);
	tf_card_dev_stats(dev, &cs);
	CU_ASSERT_EQUAL(cs.eq_posted, 9);
	CU_ASSERT_EQUAL(cs.eq_full, 2);
	CU_ASSERT_EQUAL(cs.eq_freed_seq, 3);
	/* Invalid records are refused where they are made. */
	u.tenant_id = 0;
	CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, &seq), -EINVAL);
	tf_card_host_close(h);
	tf_card_dev_destroy(dev);
}

static void
test_bad_acks_are_ignored(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH);
	struct tf_usage_record u = usage(1);
	struct tf_card_dev_stats cs;
	struct tf_bar_regs *r;
	int fd;

	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, NULL), 0);
	fd = open(g_path, O_RDWR);
	r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(r != MAP_FAILED);
	r->eq_ack_seq = 1000; /* beyond what was posted */
	CU_ASSERT_EQUAL(tf_card_dev_eq_room(dev), 4);
	CU_ASSERT_EQUAL(tf_card_dev_eq_room(dev), 4);
	r->eq_ack_seq = 2;
	CU_ASSERT_EQUAL(tf_card_dev_eq_room(dev), 6);
	r->eq_ack_seq = 1; /* backwards */
	CU_ASSERT_EQUAL(tf_card_dev_eq_room(dev), 6);
	tf_card_dev_stats(dev, &cs);
	CU_ASSERT_EQUAL(cs.bad_acks, 2); /* each bad value counted once */
	CU_ASSERT_EQUAL(r->bad_ack_count, 2);
	munmap(r, 4096);
	close(fd);
	tf_card_dev_destroy(dev);
}

static void
test_resume_keeps_sequence_and_pending(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH);
	struct tf_card_host *h;
	struct tf_usage_record u;
	struct tf_eq_entry ev[8];
	uint64_t epoch = tf_card_dev_epoch(dev), seq;
	const char *why;

	for (uint64_t i = 1; i <= 5; i++) {
		u = usage(i);
		CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, NULL), 0);
	}
	h = host_open();
	CU_ASSERT_EQUAL(tf_card_events(h, ev, 2, &why), 2);
	CU_ASSERT_EQUAL(h->ops->event_ack(h, 2), 0);
	tf_card_host_close(h); /* the daemon dies here, before reading 3..5 */
	tf_card_dev_destroy(dev); /* and the card restarts */
	dev = card_new(0);
	CU_ASSERT_EQUAL(tf_card_dev_epoch(dev), epoch);
	u = usage(6);
	CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, &seq), 0);
	CU_ASSERT_EQUAL(seq, 6);
	h = host_open();
	CU_ASSERT_EQUAL_FATAL(tf_card_events(h, ev, 8, &why), 4);
	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(ev[i].body.usage.request_id, (uint64_t)i + 3);
	tf_card_host_close(h);
	tf_card_dev_destroy(dev);

	/* Fresh: a new epoch, sequence restarts. */
	dev = card_new(TF_CARD_F_FRESH);
	CU_ASSERT_NOT_EQUAL(tf_card_dev_epoch(dev), epoch);
	u = usage(1);
	CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, &seq), 0);
	CU_ASSERT_EQUAL(seq, 1);
	tf_card_dev_destroy(dev);
}

static void
test_ownership_and_depth_change(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH), *dev2 = NULL;
	struct tf_card_dev_params p = params();
	struct tf_card_host *h, *h2 = NULL;
	struct tf_usage_record u = usage(1);
	char spec[160];
	const char *why;
	uint64_t epoch;

	CU_ASSERT_EQUAL(tf_card_dev_create(&p, &dev2), -EBUSY);
	h = host_open();
	snprintf(spec, sizeof(spec), "shm:%s", g_path);
	CU_ASSERT_EQUAL(tf_card_host_open(spec, &h2, &why), -EBUSY);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "another host driver"));
	tf_card_host_close(h);
	CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, NULL), 0);
	epoch = tf_card_dev_epoch(dev);
	tf_card_dev_destroy(dev);
	/* Unacknowledged events and other depths: refuse to throw them away. */
	p.eq_depth = 16;
	CU_ASSERT_EQUAL(tf_card_dev_create(&p, &dev2), -EBUSY);
	p.flags = TF_CARD_F_FRESH;
	CU_ASSERT_EQUAL(tf_card_dev_create(&p, &dev2), 0);
	CU_ASSERT_NOT_EQUAL(tf_card_dev_epoch(dev2), epoch);
	tf_card_dev_destroy(dev2);
	/* Nothing pending: other depths simply make a new BAR. */
	p.flags = 0;
	p.eq_depth = 32;
	CU_ASSERT_EQUAL(tf_card_dev_create(&p, &dev2), 0);
	tf_card_dev_destroy(dev2);
	p.serial = "bad\nserial";
	CU_ASSERT_EQUAL(tf_card_dev_create(&p, &dev2), -EINVAL);
	p.serial = "ok";
	p.eq_depth = 12;
	CU_ASSERT_EQUAL(tf_card_dev_create(&p, &dev2), -EINVAL);
	h2 = NULL;
	CU_ASSERT_EQUAL(tf_card_host_open("shm:/nonexistent/tokfab", &h2, &why), -ENOENT);
	CU_ASSERT_EQUAL(tf_card_host_open("nosuch:/x", &h2, &why), -EINVAL);
}

static void
test_host_protocol_violations(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH);
	struct tf_card_host *h = host_open();
	struct tf_bar_regs *r;
	struct tf_card_info in;
	struct tf_card_dev_stats cs;
	struct tf_aq_identity ident;
	struct card_loop cl;
	uint16_t st;
	uint32_t detail;
	int fd;

	card_loop_start(&cl, dev);
	CU_ASSERT_EQUAL_FATAL(h->ops->reset(h, 2000), 0);
	fd = open(g_path, O_RDWR);
	r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(r != MAP_FAILED);
	r->aq_sq_tail = 1000; /* far beyond the queue */
	usleep(20000);
	h->ops->info(h, &in);
	CU_ASSERT(in.status & TF_STATUS_FAILED);
	CU_ASSERT_EQUAL(in.fail_reason, TF_FAIL_AQ_INDEX);
	CU_ASSERT(cl.proto_errors >= 1);
	CU_ASSERT_EQUAL(
		tf_card_cmd(h, TF_AQ_IDENTIFY, NULL, &ident, sizeof(ident), &st, &detail, 100),
		-EIO);
	/* A reset recovers. */
	CU_ASSERT_EQUAL_FATAL(h->ops->reset(h, 2000), 0);
	CU_ASSERT_EQUAL(
		tf_card_cmd(h, TF_AQ_IDENTIFY, NULL, &ident, sizeof(ident), &st, &detail, 1000), 0);
	/* Unknown host feature bits fail the enable. */
	r->control = 0;
	usleep(20000);
	r->host_features = 1ull << 40;
	r->aq_sq_tail = 0;
	r->aq_cq_head = 0;
	r->control = TF_CONTROL_ENABLE;
	usleep(20000);
	h->ops->info(h, &in);
	CU_ASSERT(in.status & TF_STATUS_FAILED);
	CU_ASSERT_EQUAL(in.fail_reason, TF_FAIL_FEATURES);
	CU_ASSERT_EQUAL(h->ops->reset(h, 2000), 0);
	card_loop_stop(&cl);
	tf_card_dev_stats(dev, &cs);
	CU_ASSERT_EQUAL(cs.aq_completed, 1); /* the IDENTIFY after the recovery */
	munmap(r, 4096);
	close(fd);
	tf_card_host_close(h);
	tf_card_dev_destroy(dev);
}

static void
test_corrupt_event_stops_reading(void)
{
	struct tf_card_dev *dev = card_new(TF_CARD_F_FRESH);
	struct tf_card_host *h = host_open();
	struct tf_usage_record u = usage(1);
	struct tf_eq_entry ev[8];
	struct tf_card_info in;
	struct tf_eq_entry *slot;
	const char *why = NULL;
	uint8_t *base;
	int fd;

	for (int i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(tf_card_dev_post_usage(dev, &u, NULL), 0);
	h->ops->info(h, &in);
	fd = open(g_path, O_RDWR);
	base = mmap(NULL, in.bar_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CU_ASSERT_FATAL(base != MAP_FAILED);
	slot = (void *)(base + ((struct tf_bar_regs *)(void *)base)->eq_off + 3 * 128);
	slot->body.usage.outcome = 42; /* seq 3 */
	CU_ASSERT_EQUAL(tf_card_events(h, ev, 8, &why), 2);
	CU_ASSERT_EQUAL(tf_card_events(h, ev, 8, &why), -EPROTO);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "outcome"));
	CU_ASSERT_EQUAL(h->bad_events, 1);
	munmap(base, in.bar_size);
	close(fd);
	tf_card_host_close(h);
	tf_card_dev_destroy(dev);
}

static const struct tf_cunit_test queue_tests[] = {
	TF_TEST(test_open_reads_identity),
	TF_TEST(test_admin_round_trip),
	TF_TEST(test_reset_times_out_without_card),
	TF_TEST(test_card_restart_needs_handshake),
	TF_TEST(test_events_backpressure_and_ack),
	TF_TEST(test_bad_acks_are_ignored),
	TF_TEST(test_resume_keeps_sequence_and_pending),
	TF_TEST(test_ownership_and_depth_change),
	TF_TEST(test_host_protocol_violations),
	TF_TEST(test_corrupt_event_stops_reading),
	TF_TESTS_END,
};

TF_CUNIT_MAIN({ "card_queue", suite_init, suite_fini, queue_tests })
