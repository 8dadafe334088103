# SPDX-License-Identifier: BSD-3-Clause
# Soft-RoCE for the VM tier's rdma guest scripts (source it in the guest).
#
#   rdma_rxe_up ADDR   loads rdma_rxe and its user-space access, creates the veth pair
#                      v0/v1 with ADDR/24 on v0 and the rxe device rxe0 on v0, and
#                      waits until libibverbs and librdmacm can reach it. Returns 1
#                      with a message on stderr when a step fails.
#
# What this kernel needs (measured, see the VM notes): crc32_generic before rdma_rxe
# (else "rdma link add" fails), a veth rather than lo (rxe refuses loopback), and a
# single rxe device: two queue pairs connecting to its own IPv4 GID work.

rdma_rxe_up() {
	local addr=$1 n
	modprobe crc32_generic 2>/dev/null || modprobe crc32-pclmul 2>/dev/null
	for m in rdma_rxe ib_uverbs rdma_ucm veth; do
		modprobe "$m" || { echo "rdma_rxe_up: cannot load $m" >&2; return 1; }
	done
	ip link set lo up
	ip link add v0 type veth peer name v1 || { echo "rdma_rxe_up: cannot create veth v0/v1" >&2; return 1; }
	ip addr add "$addr/24" dev v0
	ip link set v0 up
	ip link set v1 up
	rdma link add rxe0 type rxe netdev v0 || { echo "rdma_rxe_up: rdma link add rxe0 failed" >&2; return 1; }
	for ((n = 0; n < 200; n++)); do
		[ -e /sys/class/infiniband/rxe0/ports/1/gids/1 ] && [ -c /dev/infiniband/uverbs0 ] &&
			[ -c /dev/infiniband/rdma_cm ] && break
		sleep 0.1
	done
	[ $n -lt 200 ] || { echo "rdma_rxe_up: rxe0 or /dev/infiniband/{uverbs0,rdma_cm} did not appear" >&2; return 1; }
	echo "rxe0 up on v0 ($addr)"
}
