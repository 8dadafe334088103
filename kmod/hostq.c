// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tokfab.ko: host queues (hwdocs/kmod.md "Host queues", include/tokfab/hostq.h).
 *
 * The card offers windows of its BAR; TOKFAB_IOC_HQ_CREATE gives one to an fd
 * (bound to a tenant), mmap() maps its ring area into the process, the card
 * serves the rings directly: the kernel is only involved to hand the window
 * out and take it back, and to wake poll() when the card raises the host
 * queue vector. The control page, where the tenant is, is never mapped.
 */
#include <linux/delay.h>
#include <linux/mm.h>

#include "tf_dev.h"

#define TF_HQ_TAKE_MS 2000 /* how long create waits for the card to take a queue */

static void __iomem *tf_hq_win(struct tf_dev *tf, unsigned int i)
{
	return tf->bar + tf->hq_off + (u64)i * tf->hq_size;
}

#define TF_HQ_CTL(field) offsetof(struct tf_hq_ctl, field)
#define TF_HQ_RING(field) (TF_HQ_CTL_SIZE + offsetof(struct tf_hq_ring, field))

/* Checks the card's host queue registers; a card with bad ones gets none. */
int tf_hq_setup(struct tf_dev *tf)
{
	struct device *dev = &tf->pdev->dev;
	u64 off, end, eq_end;
	u32 count, size, i;

	mutex_init(&tf->hq_lock);
	INIT_LIST_HEAD(&tf->hq_files);
	init_waitqueue_head(&tf->hq_wq);
	tf->hq_count = 0;
	if (!(tf->lay.card_features & TF_FEAT_HOST_QUEUES))
		return 0;
	off = tf_rd64(tf, TF_REG(hq_off));
	count = tf_rd32(tf, TF_REG(hq_count));
	size = tf_rd32(tf, TF_REG(hq_size));
	end = off + (u64)count * size;
	eq_end = tf->lay.eq_off + (u64)tf->lay.eq_depth * tf->lay.eq_entry_size;
	if (!count || count > TF_HQ_MAX || !is_power_of_2(size) || size < TF_HQ_SIZE_MIN ||
	    size > TF_HQ_SIZE_MAX || !IS_ALIGNED(off, PAGE_SIZE) || end > tf->lay.bar_size ||
	    off < TF_BAR_REGS_SIZE ||
	    (off < tf->lay.aq_cq_off + (u64)tf->lay.aq_depth * tf->lay.aq_cqe_size &&
	     end > tf->lay.aq_sq_off) ||
	    (off < eq_end && end > tf->lay.eq_off)) {
		dev_warn(dev, "card's host queue windows are invalid (%#llx, %u x %u): none used\n",
			 off, count, size);
		return 0;
	}
	tf->hq = kcalloc(count, sizeof(*tf->hq), GFP_KERNEL);
	if (!tf->hq)
		return -ENOMEM;
	tf->hq_off = off;
	tf->hq_size = size;
	tf->hq_count = count;
	/* Windows a previous host left active are taken back. */
	for (i = 0; i < count; i++) {
		void __iomem *w = tf_hq_win(tf, i);

		if (readl(w + TF_HQ_CTL(state)) != TF_HQ_FREE) {
			writel(TF_HQ_FREE, w + TF_HQ_CTL(state));
			wmb(); /* state before the gen that announces it */
			writel(readl(w + TF_HQ_CTL(gen)) + 1, w + TF_HQ_CTL(gen));
		}
	}
	return 0;
}

/* Wakes pollers of every host queue. Any context. */
void tf_hq_kick(struct tf_dev *tf)
{
	wake_up_interruptible_all(&tf->hq_wq);
}

/* Gives window i back to the card (state FREE, gen bumped). hq_lock held. */
static void tf_hq_free_window(struct tf_dev *tf, unsigned int i)
{
	void __iomem *w = tf_hq_win(tf, i);

	writel(TF_HQ_FREE, w + TF_HQ_CTL(state));
	wmb(); /* state before the gen that announces it */
	writel(readl(w + TF_HQ_CTL(gen)) + 1, w + TF_HQ_CTL(gen));
	tf->hq[i].owner = NULL;
	tf->hw->ring(tf, TF_VEC_HOSTQ);
}

/* A window nobody owns and whose last release the card has acted on. */
static int tf_hq_find_free(struct tf_dev *tf)
{
	u32 i;

	for (i = 0; i < tf->hq_count; i++) {
		void __iomem *w = tf_hq_win(tf, i);

		if (!tf->hq[i].owner && readl(w + TF_HQ_CTL(card_gen)) == readl(w + TF_HQ_CTL(gen)))
			return i;
	}
	return -EBUSY;
}

/* Waits for the card to act on activation gen: its card_state, or -ETIMEDOUT. */
static int tf_hq_wait_card(struct tf_dev *tf, unsigned int i, u32 gen)
{
	void __iomem *w = tf_hq_win(tf, i);
	unsigned long deadline = jiffies + msecs_to_jiffies(TF_HQ_TAKE_MS);

	while (readl(w + TF_HQ_CTL(card_gen)) != gen) {
		if (time_after(jiffies, deadline) || tf_state(tf) != TOKFAB_STATE_RUNNING)
			return -ETIMEDOUT;
		usleep_range(200, 1000);
	}
	rmb(); /* card_state is written before card_gen */
	return readl(w + TF_HQ_CTL(card_state));
}

long tf_hq_create(struct tf_file *f, unsigned long arg)
{
	struct tf_dev *tf = f->tf;
	struct tokfab_hq_create a;
	void __iomem *w;
	u32 usize, gen;
	int ret, i;

	if (READ_ONCE(f->hq) >= 0)
		return -EBUSY; /* one queue per fd (checked again under the lock) */
	if (!f->admin)
		return -EPERM;
	if (!tf->hq_count)
		return -EOPNOTSUPP;
	ret = tf_arg_in(&a, sizeof(a), sizeof(a), arg, &usize);
	if (ret)
		return ret;
	if (a.flags || a.reserved[0] || a.reserved[1] || !a.tenant_id ||
	    !is_power_of_2(a.sq_entries) || !is_power_of_2(a.cq_entries) ||
	    a.cq_entries < a.sq_entries || a.cq_entries > tf->hq_size ||
	    TF_HQ_RING_BYTES(a.sq_entries, a.cq_entries) > tf->hq_size - TF_HQ_CTL_SIZE)
		return -EINVAL;
	if (tf_state(tf) != TOKFAB_STATE_RUNNING)
		return -EIO;

	mutex_lock(&tf->hq_lock);
	if (f->hq >= 0) {
		ret = -EBUSY;
		goto out_unlock;
	}
	i = tf_hq_find_free(tf);
	if (i < 0) {
		ret = i;
		goto out_unlock;
	}
	w = tf_hq_win(tf, i);
	/* The new owner must not see the previous one's rings. */
	memset_io(w + TF_HQ_CTL_SIZE, 0, tf->hq_size - TF_HQ_CTL_SIZE);
	writel(a.tenant_id, w + TF_HQ_CTL(tenant_id));
	writel(a.sq_entries, w + TF_HQ_CTL(sq_entries));
	writel(a.cq_entries, w + TF_HQ_CTL(cq_entries));
	writel(0, w + TF_HQ_CTL(flags));
	writel(TF_HQ_ACTIVE, w + TF_HQ_CTL(state));
	gen = readl(w + TF_HQ_CTL(gen)) + 1;
	wmb(); /* every field before the gen that announces them */
	writel(gen, w + TF_HQ_CTL(gen));
	tf->hq[i].owner = f;
	tf->hw->ring(tf, TF_VEC_HOSTQ);

	ret = tf_hq_wait_card(tf, i, gen);
	if (ret != TF_HQ_CARD_SERVING) {
		u32 reason = readl(w + TF_HQ_CTL(card_reason));

		dev_info(&tf->pdev->dev, "card did not take host queue %d (state %d, reason %u)\n",
			 i, ret, reason);
		tf_hq_free_window(tf, i);
		ret = ret < 0 ? ret : reason == TF_HQ_R_TENANT ? -ENOENT : -EINVAL;
		goto out_unlock;
	}
	f->hq = i;
	f->hq_gen = gen;
	f->admin = false; /* a host-queue fd may go to an unprivileged client */
	list_add(&f->hq_node, &tf->hq_files);
	mutex_unlock(&tf->hq_lock);

	a.queue = i;
	a.ring_size = tf->hq_size - TF_HQ_CTL_SIZE;
	a.sq_off = TF_HQ_SQ_OFF;
	a.cq_off = TF_HQ_SQ_OFF + (u64)a.sq_entries * TF_HQ_SQE_SIZE;
	return tf_arg_out(arg, &a, sizeof(a), usize);

out_unlock:
	mutex_unlock(&tf->hq_lock);
	return ret;
}

/* Maps the ring area of the fd's window (never the control page). */
int tf_hq_mmap(struct tf_file *f, struct vm_area_struct *vma)
{
	struct tf_dev *tf = f->tf;
	unsigned long len = vma->vm_end - vma->vm_start;
	phys_addr_t phys;

	if (f->hq < 0)
		return -EINVAL;
	if (vma->vm_pgoff || len > tf->hq_size - TF_HQ_CTL_SIZE)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	phys = tf->bar_phys + tf->hq_off + (u64)f->hq * tf->hq_size + TF_HQ_CTL_SIZE;
	/* Device memory, shared with the card: uncached keeps the order of stores. */
	vma->vm_flags |= VM_IO | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY;
	vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	return io_remap_pfn_range(vma, vma->vm_start, phys >> PAGE_SHIFT, len, vma->vm_page_prot);
}

__poll_t tf_hq_poll(struct tf_file *f, struct poll_table_struct *wait)
{
	struct tf_dev *tf = f->tf;
	__poll_t mask = 0;
	void __iomem *w;
	u32 sq_entries;

	poll_wait(f->file, &tf->hq_wq, wait);
	down_read(&tf->gone_sem);
	if (tf_gone(tf)) {
		mask = EPOLLHUP | EPOLLERR;
		goto out;
	}
	w = tf_hq_win(tf, f->hq);
	if (tf_state(tf) == TOKFAB_STATE_FAILED ||
	    (readl(w + TF_HQ_CTL(card_gen)) == f->hq_gen &&
	     readl(w + TF_HQ_CTL(card_state)) != TF_HQ_CARD_SERVING))
		mask |= EPOLLERR;
	if (readl(w + TF_HQ_RING(cq_tail)) != readl(w + TF_HQ_RING(cq_head)))
		mask |= EPOLLIN | EPOLLRDNORM;
	sq_entries = readl(w + TF_HQ_CTL(sq_entries));
	if (readl(w + TF_HQ_RING(sq_tail)) - readl(w + TF_HQ_RING(sq_head)) < sq_entries)
		mask |= EPOLLOUT | EPOLLWRNORM;
out:
	up_read(&tf->gone_sem);
	return mask;
}

/* The fd's last reference is gone (no mapping is left either): give the window back. */
void tf_hq_release(struct tf_file *f)
{
	struct tf_dev *tf = f->tf;

	if (f->hq < 0)
		return;
	down_read(&tf->gone_sem);
	mutex_lock(&tf->hq_lock);
	if (!tf->gone && f->hq >= 0)
		tf_hq_free_window(tf, f->hq);
	list_del_init(&f->hq_node);
	f->hq = -1;
	mutex_unlock(&tf->hq_lock);
	up_read(&tf->gone_sem);
}

/*
 * The device is going: revoke every mapping of a window (an access after
 * this faults with SIGBUS instead of touching a BAR that is gone) and give
 * every window back to the card.
 */
void tf_hq_remove(struct tf_dev *tf)
{
	struct tf_file *f;
	u32 i;

	if (!tf->hq)
		return;
	mutex_lock(&tf->hq_lock);
	list_for_each_entry(f, &tf->hq_files, hq_node)
		unmap_mapping_range(f->file->f_mapping, 0, 0, 1);
	for (i = 0; i < tf->hq_count; i++)
		if (tf->hq[i].owner)
			tf_hq_free_window(tf, i);
	mutex_unlock(&tf->hq_lock);
	tf_hq_kick(tf);
	kfree(tf->hq);
	tf->hq = NULL;
	tf->hq_count = 0;
}
