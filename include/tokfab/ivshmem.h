/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The doorbell and interrupt numbering of the emulated card behind QEMU's
 * ivshmem-doorbell device (PCI 1af4:1110). Normative: hwdocs/kmod.md,
 * "Doorbells and interrupts". Shared by the card side (lib/ivshmem) and the
 * host driver (kmod/).
 *
 * BAR0 of the device holds the ivshmem registers, BAR2 the card's BAR
 * (hwdocs/registers.md). The host rings the card by writing
 * (TF_IVSHMEM_CARD_PEER << 16) | vector to the Doorbell register; the card
 * raises MSI-X vector `vector` in the host. Both are hints: they coalesce and
 * may be lost; each side acts on the indexes in the BAR only.
 */
#ifndef TOKFAB_IVSHMEM_H
#define TOKFAB_IVSHMEM_H

#define TF_IVSHMEM_VENDOR_ID 0x1af4
#define TF_IVSHMEM_DEVICE_ID 0x1110

/* ivshmem BAR0 registers (QEMU docs/specs/ivshmem-spec.txt). */
#define TF_IVSHMEM_REG_INTR_MASK 0
#define TF_IVSHMEM_REG_INTR_STATUS 4
#define TF_IVSHMEM_REG_IV_POSITION 8
#define TF_IVSHMEM_REG_DOORBELL 12

/* The card's peer id on the ivshmem server it runs. */
#define TF_IVSHMEM_CARD_PEER 0

/* Vectors, the same numbers in both directions. */
enum tf_ivshmem_vector {
	TF_VEC_ADMIN = 0, /* host->card: aq_sq_tail moved; card->host: aq_cq_tail moved */
	TF_VEC_EVENTS = 1, /* host->card: eq_ack_seq moved; card->host: eq_prod_seq moved */
	TF_VEC_HOSTQ = 2, /* host->card: a host queue was activated or released;
			    * card->host: completions on a host queue */
	TF_VEC_COUNT = 3, /* vectors= of the ivshmem-doorbell device */
};

#endif /* TOKFAB_IVSHMEM_H */
