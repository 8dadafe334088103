/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card side of the kernel module's VM tests: a card process built on
 * lib/card (the firmware's half of the BAR) that serves its BAR to a QEMU
 * guest through lib/ivshmem, so tokfab.ko drives it across the VM boundary
 * exactly as it would drive tokfab-dp. Test-only behaviour (posting N usage
 * records, hanging, changing the ABI version) is driven by a control file the
 * guest appends commands to (one per line) in the VM's writable export:
 *
 *   events N     post N usage records (request_id 1, 2, ... across calls)
 *   health       post one health event
 *   hang         stop everything (heartbeat, admin queue, events) like a
 *                frozen card process; the control file is still read
 *   resume       start again
 *   abi MAJOR    rewrite the abi_version register's major (probe refusal test)
 *
 * With --flash FILE (a flash provisioned by tokfab-fw init) the card also
 * takes firmware images through the admin queue (FW_WRITE, FW_INFO) into that
 * flash with libtffw, as the card's firmware update path: what
 * `devlink dev flash` drives.
 *
 * After each command it writes the number of commands done to CTL.done.
 * Admin commands are served by small in-memory tables (tenants, models).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "card/card.h"
#include "card/card_hostq.h"
#include "fw.h"
#include "fw_aq.h"
#include "common/log.h"
#include "ivshmem/ivshmem.h"

#define MAX_TENANTS 8
#define HQ_PENDING 1024

/* A host queue request taken, not finished yet. */
struct hq_job {
	struct tf_card_hq_req req;
	int tokens_sent;
	uint64_t event_seq;
};

struct card {
	struct tf_card_dev *dev;
	struct tf_ivshmem_server *srv;
	const char *ctl_path;
	long ctl_off;
	unsigned int ctl_done;
	char ctl_line[256];
	size_t ctl_len;
	uint64_t pending_usage;
	uint64_t next_request;
	unsigned int pending_health;
	int hung;
	uint32_t *regs; /* our own mapping of the register block */
	struct tf_aq_tenant_info tenants[MAX_TENANTS];
	uint32_t models[MAX_TENANTS];
	uint64_t started_ns;
	struct hq_job jobs[HQ_PENDING]; /* ring of taken host queue requests */
	unsigned int job_head, job_tail;
	struct tf_fw_card *fw; /* --flash: the card's flash */
	uint32_t running_version;
	struct tf_fw_upload up; /* image being received (FW_WRITE) */
};

static volatile sig_atomic_t g_stop;

static void
on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void
notify(void *arg, unsigned int vector)
{
	struct card *c = arg;

	if (c->srv)
		tf_ivshmem_server_interrupt(c->srv, vector);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------- admin handlers */

static struct tf_aq_tenant_info *
tenant_find(struct card *c, uint32_t id, int create)
{
	struct tf_aq_tenant_info *free_slot = NULL;

	for (int i = 0; i < MAX_TENANTS; i++) {
		if (c->tenants[i].tenant_id == id)
			return &c->tenants[i];
		if (!c->tenants[i].tenant_id && !free_slot)
			free_slot = &c->tenants[i];
	}
	if (!create || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->tenant_id = id;
	return free_slot;
}

static int
h_set_tenant(void *ctx, const struct tf_aq_set_tenant *cmd, struct tf_aq_tenant_info *resp,
	     uint32_t *detail)
{
	struct card *c = ctx;
	struct tf_aq_tenant_info *t = tenant_find(c, cmd->tenant_id, 0);
	int created = !t;

	if (!t)
		t = tenant_find(c, cmd->tenant_id, 1);
	if (!t) {
		*detail = MAX_TENANTS;
		return TF_AQ_S_NO_SPACE;
	}
	t->flags = cmd->flags & (TF_TENANT_F_UNLIMITED | TF_TENANT_F_DISABLED);
	t->budget_micro = cmd->budget_micro;
	if (cmd->flags & TF_TENANT_F_SET_BALANCE)
		t->balance_micro = cmd->balance_micro;
	else if (created)
		t->balance_micro = cmd->budget_micro;
	*resp = *t;
	return TF_AQ_S_OK;
}

static int
h_get_tenant(void *ctx, uint32_t tenant_id, struct tf_aq_tenant_info *resp, uint32_t *detail)
{
	struct tf_aq_tenant_info *t = tenant_find(ctx, tenant_id, 0);

	if (!t) {
		*detail = tenant_id;
		return TF_AQ_S_NOT_FOUND;
	}
	*resp = *t;
	return TF_AQ_S_OK;
}

static int
h_del_tenant(void *ctx, uint32_t tenant_id, uint32_t *detail)
{
	struct tf_aq_tenant_info *t = tenant_find(ctx, tenant_id, 0);

	if (!t) {
		*detail = tenant_id;
		return TF_AQ_S_NOT_FOUND;
	}
	memset(t, 0, sizeof(*t));
	return TF_AQ_S_OK;
}

static int
h_get_health(void *ctx, uint32_t first, struct tf_aq_health *resp, uint32_t *detail)
{
	struct card *c = ctx;

	if (first > 1) {
		*detail = first;
		return TF_AQ_S_NOT_FOUND;
	}
	resp->total = 1;
	resp->count = 1 - first;
	if (resp->count) {
		resp->e[0].component = TF_HC_CARD;
		resp->e[0].state = TF_HS_UP;
		resp->e[0].reason = TF_HR_STARTED;
		resp->e[0].since_ns = c->started_ns;
	}
	return TF_AQ_S_OK;
}

static int
h_get_card_stats(void *ctx, struct tf_aq_card_stats *resp, uint32_t *detail)
{
	struct card *c = ctx;

	(void)detail;
	resp->requests_ok = c->next_request;
	return TF_AQ_S_OK;
}

/* ---------------------------------------------------- firmware (FW_WRITE) */

static int
h_fw_write(void *ctx, const struct tf_aq_fw_write *cmd, struct tf_aq_fw_write_status *resp,
	   uint32_t *detail)
{
	struct card *c = ctx;
	struct tf_fw_card_status st = { 0 };
	struct tf_fw_write_opts o = { 0 };
	struct tf_fw_image im;
	struct tf_fw_diag diag;
	char why[256];
	int rc, slot, status;

	if (cmd->offset == 0 && tf_fw_card_status(c->fw, &st) < 0)
		return TF_AQ_S_INTERNAL;
	status = tf_fw_upload_chunk(&c->up, cmd, st.slot_size, resp, detail);
	if (status != TF_AQ_S_OK || !(cmd->flags & TF_FW_WRITE_F_FINAL))
		return status;

	o.activate = cmd->flags & TF_FW_WRITE_F_ACTIVATE;
	rc = tf_fw_flash_write_slot(c->fw, c->up.img, c->up.recv, &o, &slot, &diag);
	if (rc < 0) {
		tf_log_warnx("firmware image refused: %s",
			     tf_fw_diag_format(&diag, why, sizeof(why)));
		tf_fw_upload_release(&c->up);
		return tf_fw_aq_refusal(rc, &diag, detail);
	}
	if (tf_fw_image_parse_head(c->up.img, c->up.recv, &im, &diag) == 0)
		resp->version = tf_fw_image_version(&im);
	resp->slot = (uint32_t)slot;
	tf_log_info("firmware image %u bytes stored in slot %s%s", c->up.recv,
		    tf_fw_slot_name(slot), o.activate ? " (boots next)" : "");
	tf_fw_upload_release(&c->up);
	return TF_AQ_S_OK;
}

static int
h_fw_info(void *ctx, struct tf_aq_fw_info *resp, uint32_t *detail)
{
	struct card *c = ctx;
	struct tf_fw_card_status st;
	int i, next;

	(void)detail;
	if (tf_fw_card_status(c->fw, &st) < 0)
		return TF_AQ_S_INTERNAL;
	resp->running_version = c->running_version;
	for (i = 0; i < TF_FLASH_NSLOTS; i++) {
		const struct tf_fw_image *im = &st.slot[i].img;

		resp->slot_state[i] = st.slot[i].state;
		resp->slot_version[i] = st.slot[i].present ? TF_FW_VERSION((uint32_t)im->version[0],
									   (uint32_t)im->version[1],
									   (uint32_t)im->version[2])
							   : 0;
	}
	next = st.meta.pending_slot != TF_FLASH_NO_SLOT ? st.meta.pending_slot
							: st.meta.active_slot;
	resp->next_slot = next < TF_FLASH_NSLOTS ? (uint32_t)next : TF_FW_NO_SLOT;
	resp->next_version = next < TF_FLASH_NSLOTS ? resp->slot_version[next] : 0;
	resp->active_slot =
		st.meta.active_slot < TF_FLASH_NSLOTS ? st.meta.active_slot : TF_FW_NO_SLOT;
	return TF_AQ_S_OK;
}

static const struct tf_card_admin_handlers g_handlers = {
	.fw_write = h_fw_write,
	.fw_info = h_fw_info,
	.get_health = h_get_health,
	.get_card_stats = h_get_card_stats,
	.set_tenant = h_set_tenant,
	.del_tenant = h_del_tenant,
	.get_tenant = h_get_tenant,
};

/* ------------------------------------------------------------------ events */

static void
post_events(struct card *c)
{
	while (c->pending_health) {
		struct tf_health_event h = {
			.time_ns = tf_card_now_ns(),
			.component = TF_HC_CARD,
			.state = TF_HS_UP,
			.reason = TF_HR_OTHER,
		};

		snprintf(h.detail, sizeof(h.detail), "test event %u", c->pending_health);
		if (tf_card_dev_post_health(c->dev, &h, NULL) < 0)
			return;
		c->pending_health--;
	}
	while (c->pending_usage) {
		uint64_t id = c->next_request + 1;
		struct tf_usage_record r = {
			.request_id = id,
			.tenant_id = 1 + (uint32_t)(id % 3),
			.model_id = 1,
			.accel_id = 1,
			.outcome = TF_USAGE_OK,
			.prompt_tokens = (uint32_t)(id % 100) + 1,
			.completion_tokens = (uint32_t)(id % 50) + 1,
			.cost_micro = id % 1000,
			.end_time_ns = tf_card_now_ns(),
		};
		int rc = tf_card_dev_post_usage(c->dev, &r, NULL);

		if (rc == -EAGAIN)
			return; /* full: the host has not acknowledged enough yet */
		if (rc < 0)
			tf_fatalx("posting usage record %llu: %s", (unsigned long long)id,
				  strerror(-rc));
		c->next_request = id;
		c->pending_usage--;
	}
}

/* ------------------------------------------------------------- host queues */

/*
 * The test card's stand-in for inference (real requests go through
 * tokfab-dp to an accelerator): token k of the answer is the last prompt
 * token + k + 1. It lets the guest check every token it receives.
 */
static int
hq_take(void *ctx, const struct tf_card_hq_req *req)
{
	struct card *c = ctx;

	if (!tenant_find(c, req->tenant_id, 0))
		return TF_HQ_E_TENANT;
	if (c->job_tail - c->job_head >= HQ_PENDING)
		return TF_HQ_E_BUSY;
	memset(&c->jobs[c->job_tail % HQ_PENDING], 0, sizeof(struct hq_job));
	c->jobs[c->job_tail % HQ_PENDING].req = *req;
	c->job_tail++;
	return 0;
}

/* Finishes taken requests in order while their queue has room. */
static void
hq_run(struct card *c)
{
	while (c->job_head != c->job_tail) {
		struct hq_job *j = &c->jobs[c->job_head % HQ_PENDING];
		const struct tf_hq_sqe *s = &j->req.sqe;
		uint32_t toks[TF_HQ_NEW_TOKENS_MAX];
		unsigned int n = s->max_new_tokens, k;
		int rc = 0;

		if (!j->tokens_sent) {
			for (k = 0; k < n; k++)
				toks[k] = s->prompt[s->n_prompt - 1] + k + 1;
			rc = tf_card_hq_tokens(c->dev, &j->req, toks, n);
			if (rc == -EINVAL) /* more than the whole completion queue */
				rc = tf_card_hq_error(c->dev, &j->req, TF_HQ_E_TOO_LARGE, 0)
					     ?: -ESTALE;
			if (rc == -EAGAIN)
				return; /* the application has not consumed enough yet */
			if (rc)
				goto drop;
			j->tokens_sent = 1;
		}
		if (!j->event_seq) {
			struct tf_usage_record r = {
				.request_id = s->user_data,
				.tenant_id = j->req.tenant_id,
				.model_id = s->model_id,
				.accel_id = 1,
				.outcome = TF_USAGE_OK,
				.prompt_tokens = s->n_prompt,
				.completion_tokens = n,
				.end_time_ns = tf_card_now_ns(),
			};

			rc = tf_card_dev_post_usage(c->dev, &r, &j->event_seq);
			if (rc == -EAGAIN)
				return; /* event queue full: the ledger first */
			if (rc)
				tf_fatalx("usage record of a host queue request: %s",
					  strerror(-rc));
		}
		{
			struct tf_card_hq_done d = {
				.outcome = TF_USAGE_OK,
				.prompt_tokens = s->n_prompt,
				.completion_tokens = n,
				.event_seq = j->event_seq,
			};

			rc = tf_card_hq_done(c->dev, &j->req, &d);
			if (rc == -EAGAIN)
				return;
		}
	drop:
		c->job_head++;
	}
}

/* ----------------------------------------------------------------- control */

static void
ctl_command(struct card *c, const char *line)
{
	unsigned long long n;

	if (sscanf(line, "events %llu", &n) == 1)
		c->pending_usage += n;
	else if (strcmp(line, "health") == 0)
		c->pending_health++;
	else if (strcmp(line, "hang") == 0)
		c->hung = 1;
	else if (strcmp(line, "resume") == 0)
		c->hung = 0;
	else if (sscanf(line, "abi %llu", &n) == 1)
		__atomic_store_n(&c->regs[1], (uint32_t)(TF_ABI_VERSION(n, TF_ABI_MINOR)),
				 __ATOMIC_RELEASE);
	else
		tf_log_warnx("control: unknown command '%s'", line);
	tf_log_info("control: %s", line);
}

/* Reads whole new lines of the control file; acknowledges each in CTL.done. */
static void
ctl_poll(struct card *c)
{
	char path[512];
	FILE *f;
	int ch, ran = 0;

	f = fopen(c->ctl_path, "r");
	if (!f)
		return;
	if (fseek(f, c->ctl_off, SEEK_SET) == 0) {
		while ((ch = fgetc(f)) != EOF) {
			c->ctl_off++;
			if (ch != '\n') {
				if (c->ctl_len < sizeof(c->ctl_line) - 1)
					c->ctl_line[c->ctl_len++] = (char)ch;
				continue;
			}
			c->ctl_line[c->ctl_len] = '\0';
			c->ctl_len = 0;
			ctl_command(c, c->ctl_line);
			c->ctl_done++;
			ran = 1;
		}
	}
	fclose(f);
	if (!ran)
		return;
	snprintf(path, sizeof(path), "%s.done", c->ctl_path);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%u\n", c->ctl_done);
		fclose(f);
	}
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: kmod_card --bar FILE --sock SOCKET --ctl FILE [--serial S]\n"
		"                 [--aq-depth N] [--eq-depth N] [--hb-ms N] [--flash FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bar", required_argument, NULL, 'b' },
		{ "sock", required_argument, NULL, 's' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "serial", required_argument, NULL, 'n' },
		{ "aq-depth", required_argument, NULL, 'a' },
		{ "eq-depth", required_argument, NULL, 'e' },
		{ "hb-ms", required_argument, NULL, 'h' },
		{ "flash", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct tf_card_dev_params p = {
		.serial = "TFVM0001",
		.fw_version = TF_FW_VERSION(1, 0, 0),
		.fw_version_str = "1.0.0",
		.features = TF_FEAT_HEALTH_EVENTS | TF_FEAT_IVSHMEM_DOORBELL | TF_FEAT_HOST_QUEUES,
		.hq_count = 4,
		.hq_size = 65536,
		.max_tenants = MAX_TENANTS,
		.max_models = 4,
		.max_accels = 4,
		.n_ports = 1,
		.flags = TF_CARD_F_FRESH,
	};
	struct card c = { .started_ns = tf_card_now_ns() };
	const char *sock = NULL, *flash = NULL;
	struct tf_flash *fl = NULL;
	uint64_t rang, last_hb = 0, last_ctl = 0;
	int opt, rc;

	tf_log_init("kmod_card", TF_LOG_INFO, 0);
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			p.path = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'c':
			c.ctl_path = optarg;
			break;
		case 'n':
			p.serial = optarg;
			break;
		case 'a':
			p.aq_depth = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'e':
			p.eq_depth = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'h':
			p.hb_period_ms = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'f':
			flash = optarg;
			break;
		default:
			usage();
		}
	}
	if (!p.path || !sock || !c.ctl_path)
		usage();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	c.running_version = p.fw_version;
	if (flash) {
		rc = tf_flash_file_open(flash, &fl);
		if (rc == 0)
			rc = tf_fw_card_open(fl, &c.fw);
		if (rc < 0)
			tf_fatalx("flash %s: %s (provision it with tokfab-fw init)", flash,
				  strerror(-rc));
		p.features |= TF_FEAT_FW_UPDATE;
	}

	p.notify = notify;
	p.notify_arg = &c;
	rc = tf_card_dev_create(&p, &c.dev);
	if (rc < 0)
		tf_fatalx("creating the BAR %s: %s", p.path, strerror(-rc));
	c.regs = mmap(NULL, TF_BAR_REGS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      tf_card_dev_fd(c.dev), 0);
	if (c.regs == MAP_FAILED)
		tf_fatal("mapping the register block");
	rc = tf_ivshmem_server_create(sock, tf_card_dev_fd(c.dev), TF_VEC_COUNT, &c.srv);
	if (rc < 0)
		tf_fatalx("ivshmem server on %s: %s", sock, strerror(-rc));
	tf_log_info("card %s serving %s on %s (BAR %llu bytes)", p.serial, p.path, sock,
		    (unsigned long long)tf_card_dev_bar_size(c.dev));

	while (!g_stop) {
		uint64_t now;

		rc = tf_ivshmem_server_wait(c.srv, 1, &rang);
		if (rc < 0 && rc != -EINTR)
			tf_fatalx("ivshmem server: %s", strerror(-rc));
		now = mono_ms();
		if (now - last_ctl >= 20) {
			ctl_poll(&c);
			last_ctl = now;
		}
		if (c.hung)
			continue;
		post_events(&c);
		tf_card_hq_poll(c.dev, hq_take, &c, 64);
		hq_run(&c);
		rc = tf_card_dev_poll_admin(c.dev, &g_handlers, &c);
		if (rc < 0)
			tf_log_warnx("the host broke the admin queue protocol: FAILED until reset");
		if (now - last_hb >=
		    (p.hb_period_ms ? p.hb_period_ms : TF_CARD_HB_PERIOD_MS_DEFAULT) / 2) {
			tf_card_dev_heartbeat(c.dev);
			last_hb = now;
		}
	}
	tf_card_dev_destroy(c.dev);
	tf_ivshmem_server_destroy(c.srv);
	munmap(c.regs, TF_BAR_REGS_SIZE);
	tf_fw_upload_release(&c.up);
	tf_fw_card_close(c.fw);
	tf_flash_destroy(fl);
	return 0;
}
