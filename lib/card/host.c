/* SPDX-License-Identifier: BSD-3-Clause */
/* Host side, above the access paths: registry, checked commands and events. */
#include "card/check.h"
#include "card/host.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* "auto" tries these in order; the kernel module's path goes first when added. */
static const struct tf_card_access_ops *const g_access[] = {
	&tf_card_access_kmod,
	&tf_card_access_shm,
	NULL,
};

const struct tf_card_access_ops *const *
tf_card_access_list(void)
{
	return g_access;
}

const struct tf_card_access_ops *
tf_card_access_find(const char *name)
{
	for (size_t i = 0; g_access[i]; i++)
		if (strcmp(g_access[i]->name, name) == 0)
			return g_access[i];
	return NULL;
}

const char *
tf_card_strerror(int err)
{
	switch (err) {
	case -ENOENT:
		return "no card there: is tokfab-dp running (or tokfab.ko loaded), and is the path "
		       "right?";
	case -EAGAIN:
		return "the card is still initialising; retry in a moment";
	case -EBUSY:
		return "another host driver (a second tokfabd?) already owns this card";
	case -EPROTONOSUPPORT:
		return "the card speaks another ABI major version; update host software or card "
		       "firmware";
	case -EPROTO:
		return "the card broke the BAR specification (hwdocs/queues.md); see the log";
	case -ETIMEDOUT:
		return "the card did not answer in time: is tokfab-dp running and polling?";
	case -EIO:
		return "the card is in the FAILED state; it needs a reset";
	case -ENOTCONN:
		return "the admin queue is not enabled; reset the card first";
	case -ECONNRESET:
		return "the card restarted; reset it and push the configuration again";
	case -ENODEV:
		return "the card's BAR went away (re-created); re-open it";
	case -EINVAL:
		return "invalid argument";
	default:
		return strerror(-err);
	}
}

int
tf_card_host_open(const char *spec, struct tf_card_host **hp, const char **why)
{
	const struct tf_card_access_ops *ops;
	const char *colon, *target;
	char name[32];
	int rc = -ENOENT;

	*why = NULL;
	if (strcmp(spec, "auto") == 0) {
		for (size_t i = 0; g_access[i]; i++) {
			rc = g_access[i]->open(g_access[i]->default_target, hp);
			if (rc == 0) {
				snprintf((*hp)->target, sizeof((*hp)->target), "%s:%s",
					 g_access[i]->name, g_access[i]->default_target);
				return 0;
			}
		}
		*why = tf_card_strerror(rc);
		return rc;
	}
	colon = strchr(spec, ':');
	if (colon && (size_t)(colon - spec) < sizeof(name)) {
		memcpy(name, spec, (size_t)(colon - spec));
		name[colon - spec] = '\0';
		target = colon + 1;
	} else if (!colon && strlen(spec) < sizeof(name)) {
		strcpy(name, spec);
		target = NULL;
	} else {
		*why = "card access must be NAME:TARGET (e.g. shm:/dev/shm/tokfab0), NAME or auto";
		return -EINVAL;
	}
	ops = tf_card_access_find(name);
	if (!ops) {
		*why = "unknown card access path (known: kmod, shm)";
		return -EINVAL;
	}
	if (!target || !*target)
		target = ops->default_target;
	rc = ops->open(target, hp);
	if (rc < 0) {
		*why = tf_card_strerror(rc);
		return rc;
	}
	snprintf((*hp)->target, sizeof((*hp)->target), "%s:%s", ops->name, target);
	return 0;
}

void
tf_card_host_close(struct tf_card_host *h)
{
	if (h)
		h->ops->close(h);
}

int
tf_card_cmd(struct tf_card_host *h, uint16_t opcode, const void *req, void *resp, size_t resp_size,
	    uint16_t *status, uint32_t *detail, int timeout_ms)
{
	struct tf_aq_sqe sqe;
	struct tf_aq_cqe cqe;
	const char *why;
	int len = tf_aq_req_len(opcode);
	int rc;

	if (len < 0)
		return -EINVAL;
	memset(&sqe, 0, sizeof(sqe));
	sqe.opcode = opcode;
	sqe.len = (uint32_t)len;
	if (len)
		memcpy(sqe.payload, req, (size_t)len);
	rc = h->ops->admin(h, &sqe, &cqe, timeout_ms);
	if (rc < 0)
		return rc;
	if (tf_aq_cqe_check(&cqe, &sqe, &why) < 0) {
		h->bad_completions++;
		return -EPROTO;
	}
	*status = cqe.status;
	*detail = cqe.detail;
	if (resp && resp_size) {
		memset(resp, 0, resp_size);
		memcpy(resp, cqe.payload, cqe.len < resp_size ? cqe.len : resp_size);
	}
	return 0;
}

int
tf_card_events(struct tf_card_host *h, struct tf_eq_entry *ev, unsigned int max, const char **why)
{
	int n, i;

	if (h->broken_seq) {
		*why = h->broken_why;
		return -EPROTO;
	}
	n = h->ops->event_read(h, ev, max);
	if (n <= 0)
		return n;
	for (i = 0; i < n; i++) {
		if (tf_eq_entry_check(&ev[i], h->expect_seq, why) < 0) {
			h->bad_events++;
			h->broken_seq = h->expect_seq;
			h->broken_why = *why;
			return i > 0 ? i : -EPROTO;
		}
		h->expect_seq++;
	}
	return n;
}
