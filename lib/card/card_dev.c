/* SPDX-License-Identifier: BSD-3-Clause */
/* Card side: create or resume the BAR file, heartbeat, identity, teardown. */
#include "card/bar_io.h"
#include "card/card_internal.h"
#include "card/check.h"
#include "card/layout.h"
#include "tokfab/hostq.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t
tf_card_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
pow2_in(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v >= lo && v <= hi && !(v & (v - 1));
}

/* A param string that will fit a 32-byte name field. */
static int
str_ok(const char *s)
{
	char buf[TF_NAME_LEN] = { 0 };
	size_t n;

	if (!s)
		return 0;
	n = strlen(s);
	if (n == 0 || n >= TF_NAME_LEN)
		return 0;
	memcpy(buf, s, n);
	return tf_bar_name_ok(buf, TF_NAME_LEN, 1);
}

static int
params_check(const struct tf_card_dev_params *p, struct tf_card_dev_params *out)
{
	*out = *p;
	if (!p->path || !p->path[0])
		return -EINVAL;
	if (!out->aq_depth)
		out->aq_depth = TF_CARD_AQ_DEPTH_DEFAULT;
	if (!out->eq_depth)
		out->eq_depth = TF_CARD_EQ_DEPTH_DEFAULT;
	if (!out->hb_period_ms)
		out->hb_period_ms = TF_CARD_HB_PERIOD_MS_DEFAULT;
	if (!pow2_in(out->aq_depth, TF_AQ_DEPTH_MIN, TF_AQ_DEPTH_MAX) ||
	    !pow2_in(out->eq_depth, TF_EQ_DEPTH_MIN, TF_EQ_DEPTH_MAX) || out->hb_period_ms > 60000)
		return -EINVAL;
	if (out->features & ~TF_FEAT_KNOWN_MASK)
		return -EINVAL;
	if (!str_ok(p->serial) || !str_ok(p->fw_version_str))
		return -EINVAL;
	if (out->flags & ~TF_CARD_F_FRESH)
		return -EINVAL;
	if (!out->hq_count != !(out->features & TF_FEAT_HOST_QUEUES) || out->hq_count > TF_HQ_MAX ||
	    (out->hq_count && !pow2_in(out->hq_size, TF_HQ_SIZE_MIN, TF_HQ_SIZE_MAX)))
		return -EINVAL;
	return 0;
}

/* One card process per BAR: an OFD write lock on byte 0 (the host locks byte 1). */
static int
lock_card(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };

	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return (errno == EAGAIN || errno == EACCES) ? -EBUSY : -errno;
	return 0;
}

enum existing { EX_NEW, EX_RESUME, EX_BUSY, EX_CORRUPT };

/* What to do with the file's current contents. */
static enum existing
inspect(int fd, off_t file_size, const struct tf_card_dev_params *p, const struct tf_bar_layout *l)
{
	struct tf_bar_regs *r;
	enum existing what = EX_NEW;
	uint64_t prod, freed, ack, done;
	int same;

	if (file_size < (off_t)TF_BAR_REGS_SIZE)
		return EX_NEW;
	r = mmap(NULL, TF_BAR_REGS_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (r == MAP_FAILED)
		return EX_NEW;
	if (r->magic != TF_BAR_MAGIC || TF_ABI_VERSION_MAJOR(r->abi_version) != TF_ABI_MAJOR)
		goto out;
	prod = r->eq_prod_seq;
	freed = r->eq_freed_seq;
	ack = r->eq_ack_seq;
	done = (ack >= freed && ack <= prod) ? ack : freed;
	same = r->bar_size == l->bar_size && (off_t)l->bar_size <= file_size &&
	       r->aq_depth == p->aq_depth && r->eq_depth == p->eq_depth &&
	       r->aq_sq_off == l->aq_sq_off && r->aq_cq_off == l->aq_cq_off &&
	       r->eq_off == l->eq_off && r->hq_off == l->hq_off && r->hq_count == l->hq_count &&
	       r->hq_size == l->hq_size && r->aq_sqe_size == TF_AQ_ENTRY_SIZE &&
	       r->aq_cqe_size == TF_AQ_ENTRY_SIZE && r->eq_entry_size == TF_EQ_ENTRY_SIZE &&
	       r->epoch != 0;
	if (p->flags & TF_CARD_F_FRESH)
		what = EX_NEW;
	else if (same && (freed > prod || prod - freed > p->eq_depth))
		what = EX_CORRUPT;
	else if (same)
		what = EX_RESUME;
	else if (prod > done)
		what = EX_BUSY;
out:
	munmap(r, TF_BAR_REGS_SIZE);
	return what;
}

static void
fill_identity(struct tf_card_dev *dev, const struct tf_card_dev_params *p,
	      const struct tf_bar_layout *l)
{
	struct tf_bar_regs *r = dev->regs;
	struct tf_aq_identity *id = &dev->ident;

	r->abi_version = TF_ABI_VERSION(TF_ABI_MAJOR, TF_ABI_MINOR);
	r->bar_size = (uint32_t)l->bar_size;
	r->regs_size = TF_BAR_REGS_SIZE;
	r->card_features = p->features;
	r->vendor_id = TF_PCI_VENDOR_ID;
	r->device_id = TF_PCI_DEVICE_ID;
	r->fw_version = p->fw_version;
	r->aq_depth = p->aq_depth;
	r->eq_depth = p->eq_depth;
	r->aq_sqe_size = TF_AQ_ENTRY_SIZE;
	r->aq_cqe_size = TF_AQ_ENTRY_SIZE;
	r->eq_entry_size = TF_EQ_ENTRY_SIZE;
	r->hb_period_ms = p->hb_period_ms;
	r->aq_sq_off = l->aq_sq_off;
	r->aq_cq_off = l->aq_cq_off;
	r->eq_off = l->eq_off;
	r->max_tenants = p->max_tenants;
	r->max_models = p->max_models;
	r->max_accels = p->max_accels;
	r->hq_off = l->hq_off;
	r->hq_count = l->hq_count;
	r->hq_size = l->hq_size;
	memset(r->serial, 0, sizeof(r->serial));
	memcpy(r->serial, p->serial, strlen(p->serial));
	memset(r->fw_version_str, 0, sizeof(r->fw_version_str));
	memcpy(r->fw_version_str, p->fw_version_str, strlen(p->fw_version_str));

	memset(id, 0, sizeof(*id));
	id->vendor_id = TF_PCI_VENDOR_ID;
	id->device_id = TF_PCI_DEVICE_ID;
	id->abi_version = r->abi_version;
	id->fw_version = p->fw_version;
	id->boot_count = dev->boot_count;
	id->card_features = p->features;
	id->epoch = dev->epoch;
	id->max_tenants = p->max_tenants;
	id->max_models = p->max_models;
	id->max_accels = p->max_accels;
	id->n_ports = p->n_ports;
	memcpy(id->serial, r->serial, TF_NAME_LEN);
	memcpy(id->fw_version_str, r->fw_version_str, TF_NAME_LEN);
}

static uint64_t
new_epoch(void)
{
	uint64_t e = 0;

	while (e == 0)
		if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
			e = mono_ns() ^ ((uint64_t)getpid() << 32) ^ tf_card_now_ns();
	return e;
}

/*
 * Replaces a non-empty file by a new inode: a host that still maps the old
 * one keeps valid memory (it notices the frozen heartbeat and re-attaches)
 * instead of taking SIGBUS from a truncation.
 */
static int
replace_file(const char *path, int *fdp)
{
	int fd;
	int rc;

	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (fd < 0)
		return -errno;
	rc = lock_card(fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	close(*fdp);
	*fdp = fd;
	return 0;
}

int
tf_card_dev_create(const struct tf_card_dev_params *params, struct tf_card_dev **devp)
{
	struct tf_card_dev_params p;
	struct tf_bar_layout l;
	struct tf_card_dev *dev;
	struct stat st;
	enum existing what;
	void *base;
	int rc;

	rc = params_check(params, &p);
	if (rc < 0)
		return rc;
	tf_bar_layout_compute(p.aq_depth, p.eq_depth, &l);
	tf_bar_layout_add_hq(p.eq_depth, p.hq_count, p.hq_size, &l);
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->fd = open(p.path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	if (dev->fd < 0) {
		rc = -errno;
		goto err_free;
	}
	rc = lock_card(dev->fd);
	if (rc < 0)
		goto err_close;
	if (fstat(dev->fd, &st) < 0) {
		rc = -errno;
		goto err_close;
	}
	what = inspect(dev->fd, st.st_size, &p, &l);
	if (what == EX_BUSY) {
		rc = -EBUSY;
		goto err_close;
	}
	if (what == EX_CORRUPT) {
		rc = -EBADMSG;
		goto err_close;
	}
	if (what == EX_NEW) {
		if (st.st_size > 0) {
			rc = replace_file(p.path, &dev->fd);
			if (rc < 0)
				goto err_close;
		}
		if (ftruncate(dev->fd, (off_t)l.bar_size) < 0) {
			rc = -errno;
			goto err_close;
		}
	}
	base = mmap(NULL, l.bar_size, PROT_READ | PROT_WRITE, MAP_SHARED, dev->fd, 0);
	if (base == MAP_FAILED) {
		rc = -errno;
		goto err_close;
	}
	dev->base = base;
	dev->regs = base;
	dev->size = l.bar_size;
	dev->sq = dev->base + l.aq_sq_off;
	dev->cq = dev->base + l.aq_cq_off;
	dev->eq = dev->base + l.eq_off;
	dev->hq_base = l.hq_count ? dev->base + l.hq_off : NULL;
	dev->hq_count = l.hq_count;
	dev->hq_size = l.hq_size;
	dev->aq_depth = p.aq_depth;
	dev->eq_depth = p.eq_depth;
	dev->features = p.features;
	dev->notify = p.notify;
	dev->notify_arg = p.notify_arg;
	dev->start_ns = mono_ns();

	/* A host never sees a half-written block: magic goes to 0 first, back last. */
	tf_bar_wr32(&dev->regs->magic, 0);
	if (what == EX_NEW) {
		dev->epoch = new_epoch();
		dev->regs->epoch = dev->epoch;
		dev->boot_count = 1;
	} else {
		dev->epoch = dev->regs->epoch;
		dev->boot_count = dev->regs->boot_count + 1;
		dev->prod = dev->regs->eq_prod_seq;
		dev->freed = dev->regs->eq_freed_seq;
	}
	fill_identity(dev, &p, &l);
	dev->regs->boot_count = dev->boot_count;
	dev->regs->status = 0;
	dev->regs->fail_reason = TF_FAIL_NONE;
	dev->regs->aq_sq_head = 0;
	dev->regs->aq_cq_tail = 0;
	dev->last_bad_ack = dev->freed;
	dev->freed0 = dev->freed;
	dev->st.eq_prod_seq = dev->prod;
	dev->st.eq_freed_seq = dev->freed;
	rc = tf_card_hq_attach(dev);
	if (rc < 0) {
		munmap(dev->base, dev->size);
		goto err_close;
	}
	tf_bar_wr32(&dev->regs->magic, TF_BAR_MAGIC);
	*devp = dev;
	return 0;

err_close:
	close(dev->fd);
err_free:
	free(dev);
	return rc;
}

void
tf_card_dev_destroy(struct tf_card_dev *dev)
{
	if (!dev)
		return;
	dev->status |= TF_STATUS_STOPPING;
	tf_bar_wr32(&dev->regs->status, dev->status);
	tf_card_hq_detach(dev);
	munmap(dev->base, dev->size);
	close(dev->fd);
	free(dev);
}

int
tf_card_dev_fd(const struct tf_card_dev *dev)
{
	return dev->fd;
}

uint64_t
tf_card_dev_bar_size(const struct tf_card_dev *dev)
{
	return dev->size;
}

uint64_t
tf_card_dev_epoch(const struct tf_card_dev *dev)
{
	return dev->epoch;
}

void
tf_card_dev_heartbeat(struct tf_card_dev *dev)
{
	uint64_t hb = dev->regs->heartbeat;

	tf_bar_wr64(&dev->regs->heartbeat, hb + 1);
}

void
tf_card_dev_stats(struct tf_card_dev *dev, struct tf_card_dev_stats *st)
{
	tf_card_eq_take_ack(dev);
	*st = dev->st;
	st->eq_prod_seq = dev->prod;
	st->eq_freed_seq = dev->freed;
	st->boot_count = dev->boot_count;
	st->status = dev->status;
}

uint64_t
tf_card_dev_uptime_ns(const struct tf_card_dev *dev)
{
	return mono_ns() - dev->start_ns;
}
