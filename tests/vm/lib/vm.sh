# SPDX-License-Identifier: BSD-3-Clause
# VM tier harness: boots Debian's stock kernel (linux-image-amd64) under QEMU
# (TCG) with the host's root filesystem read-only over 9p and runs a guest
# script in it. Source it from a tests/vm/test_*.sh:
#
#   . "$TF_ROOT/tests/lib/common.sh"
#   . "$TF_ROOT/tests/vm/lib/vm.sh"
#   tf_vm_run "$TF_ROOT/tests/vm/guest/my_checks.sh" 600 [extra qemu args...]
#
# tf_vm_run GUEST_SCRIPT [TIMEOUT_S] [QEMU_ARGS...]
#   Returns 0 when the guest script exited 0 (the guest prints
#   "TF_VM_RESULT: PASS"), 77 when it exited 77 (SKIPPED, the reason is the
#   last line printed), 1 on failure, kernel panic/oops/BUG/WARNING, or
#   timeout. The console is streamed to stdout and to $TF_VM_LOG.
#
# In the guest, the script runs as root under bash in a chroot onto the
# host's root (read-only: the project build, modprobe, ip, rdma... all work),
# with the cwd $TF_ROOT and these variables set:
#   TF_ROOT, BUILD, TF_VM_OUT (a writable directory shared with the host,
#   same path on both sides), TF_VM_KVER, TF_VM_SYSROOT (where the chroot is
#   for the kernel's own file lookups, e.g. the firmware loader's path:
#   echo -n "$TF_VM_SYSROOT$TF_VM_OUT" >/sys/module/firmware_class/parameters/path),
#   and every TF_* variable of the caller. /tmp, /run, /var/tmp and /dev/shm are tmpfs.
#   Extra arguments for the script: the TF_VM_ARGS array.
#
# Knobs (environment): TF_VM_MEM (MiB, default 1536), TF_VM_SMP (default 2),
# TF_VM_APPEND (more kernel command line, e.g. slub_debug=U,kmalloc-*),
# TF_VM_ALLOW_KERNEL_WARN=1 (do not fail on a kernel WARNING), TF_VM_KEEP=1
# (keep the run directory even on success).
# After the call: TF_VM_LOG (console log), TF_VM_OUT (run directory).
#
# tf_vm_mkrun NAME: creates the run directory before the VM starts (for host
# processes that share files with the guest, e.g. a control file) and sets
# TF_VM_OUT; the next tf_vm_run uses it instead of making its own.

TF_VM_LIB=${TF_VM_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

# tf_vm_kver: the version of the kernel linux-image-amd64 installs.
tf_vm_kver() {
	local dep
	dep=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null) || {
		echo "tf-vm: linux-image-amd64 is not installed: run 'make deps'" >&2
		return 1
	}
	dep=${dep%% *}
	dep=${dep#linux-image-}
	[ -n "$dep" ] && [ -f "/boot/vmlinuz-$dep" ] || {
		echo "tf-vm: no /boot/vmlinuz-$dep for linux-image-amd64: reinstall it ('make deps')" >&2
		return 1
	}
	echo "$dep"
}

# tf_vm_initramfs KVER: prints the path of the cached initramfs, building it
# under $BUILD/vm/ when the kernel, busybox or the init script changed.
tf_vm_initramfs() {
	local kver=$1 key img tmp m
	local mods=(virtio_pci 9pnet_virtio 9p)
	key=$( { echo "$kver"; cat "$TF_VM_LIB/initramfs-init.sh"; ls -l /bin/busybox; echo "${mods[*]}"; } |
		sha256sum | cut -c1-12)
	img=$BUILD/vm/initramfs-$kver-$key.cpio.gz
	if [ -s "$img" ]; then
		echo "$img"
		return 0
	fi
	mkdir -p "$BUILD/vm"
	tmp=$(mktemp -d "$BUILD/vm/initramfs.XXXXXX")
	mkdir -p "$tmp"/{bin,dev,proc,sys,newroot,lib/modules}
	cp /bin/busybox "$tmp/bin/busybox"
	cp "$TF_VM_LIB/initramfs-init.sh" "$tmp/init"
	chmod 755 "$tmp/init"
	: >"$tmp/modules.order"
	# Dependency order as modprobe would load them; each module once.
	while read -r verb path _; do
		[ "$verb" = insmod ] || continue
		m=/lib/modules/$(basename "${path%.ko*}").ko
		grep -qx "$m" "$tmp/modules.order" && continue
		case "$path" in
		*.ko) cp "$path" "$tmp$m" ;;
		*.ko.xz) xz -dc "$path" >"$tmp$m" ;;
		*.ko.zst) zstd -qdc "$path" >"$tmp$m" ;;
		*.ko.gz) gzip -dc "$path" >"$tmp$m" ;;
		*) echo "tf-vm: unknown module format $path" >&2; rm -rf "$tmp"; return 1 ;;
		esac || { rm -rf "$tmp"; return 1; }
		echo "$m" >>"$tmp/modules.order"
	done < <(modprobe -S "$kver" -a --show-depends "${mods[@]}")
	[ -s "$tmp/modules.order" ] || {
		echo "tf-vm: modprobe found none of ${mods[*]} for $kver" >&2
		rm -rf "$tmp"
		return 1
	}
	(cd "$tmp" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$tmp.cpio.gz" &&
		mv -f "$tmp.cpio.gz" "$img"
	rm -rf "$tmp"
	[ -s "$img" ] || { echo "tf-vm: building $img failed" >&2; return 1; }
	echo "$img"
}

tf_vm_mkrun() {
	mkdir -p "$BUILD/vm"
	TF_VM_OUT=$(mktemp -d "$BUILD/vm/run-$1-XXXXXX") || return 1
	TF_VM_PRESET=$TF_VM_OUT
}

tf_vm_run() {
	local script=$1 timeout=${2:-600}
	shift 2 2>/dev/null || shift $#
	local kver initrd out log rc v result
	command -v qemu-system-x86_64 >/dev/null ||
		{ echo "FAIL: qemu-system-x86_64 missing: run 'make deps'" >&2; return 1; }
	[ -x /bin/busybox ] || { echo "FAIL: /bin/busybox missing: run 'make deps' (busybox-static)" >&2; return 1; }
	case "$script" in /*) ;; *) script=$PWD/$script ;; esac
	[ -f "$script" ] || { echo "FAIL: guest script $script not found" >&2; return 1; }
	kver=$(tf_vm_kver) || return 1
	initrd=$(tf_vm_initramfs "$kver") || return 1

	mkdir -p "$BUILD/vm"
	if [ -n "${TF_VM_PRESET:-}" ] && [ -d "$TF_VM_PRESET" ]; then
		out=$TF_VM_PRESET
		TF_VM_PRESET=
	else
		out=$(mktemp -d "$BUILD/vm/run-$(basename "$script" .sh)-XXXXXX")
	fi
	case "$out$script$TF_ROOT" in *[[:space:]]*)
		echo "FAIL: paths with white space are not supported: $out $script" >&2; return 1 ;;
	esac
	# /tmp, /run, /var/tmp and /dev/shm are the guest's own tmpfs: the project
	# tree and the run directory are mounted on top of them at their host
	# paths; any other script that lives there travels in the run directory.
	case "$script" in "$TF_ROOT"/*) ;; /tmp/*|/run/*|/var/tmp/*|/dev/shm/*)
		cp "$script" "$out/guest-script.sh" && script=$out/guest-script.sh ;;
	esac
	log=$out/console.log
	TF_VM_OUT=$out
	TF_VM_LOG=$log
	{
		printf 'export TF_ROOT=%q BUILD=%q TF_VM_OUT=%q TF_VM_KVER=%q TF_VM_SCRIPT=%q\n' \
			"$TF_ROOT" "$BUILD" "$out" "$kver" "$script"
		printf 'export PATH=%q\n' "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		# The chroot as the kernel's own path lookups see it (PID 1 stays in the
		# initramfs), e.g. for /sys/module/firmware_class/parameters/path.
		printf 'export TF_VM_SYSROOT=/newroot\n'
		for v in $(compgen -e | grep '^TF_' | grep -v -e '^TF_VM_OUT$' -e '^TF_VM_LOG$' -e '^TF_ROOT$' -e '^TF_VM_PRESET$'); do
			printf 'export %s=%q\n' "$v" "${!v}"
		done
		printf 'TF_VM_ARGS=('
		printf '%q ' "${TF_VM_ARGS[@]}"
		printf ')\n'
	} >"$out/env.sh"

	echo "tf-vm: booting $kver (timeout ${timeout}s), console log $log"
	timeout --kill-after=10 "$timeout" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -m "${TF_VM_MEM:-1536}" -smp "${TF_VM_SMP:-2}" \
		-nographic -no-reboot -nodefaults -serial stdio -monitor none \
		-kernel "/boot/vmlinuz-$kver" -initrd "$initrd" \
		-append "console=ttyS0 loglevel=5 panic=-1 oops=panic tf.run=$TF_VM_LIB/guest-run.sh tf.out=$out tf.proj=$TF_ROOT ${TF_VM_APPEND:-}" \
		-virtfs local,path=/,mount_tag=tfroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$TF_ROOT",mount_tag=tfproj,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$out",mount_tag=tfout,security_model=none,multidevs=remap \
		"$@" </dev/null 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	result=$(grep -a -m1 '^TF_VM_RESULT: ' "$log" | tr -d '\r')
	if grep -aq -e 'Kernel panic' -e 'Oops:' -e 'BUG: ' -e 'kernel BUG' -e 'general protection fault' "$log"; then
		echo "FAIL: the guest kernel crashed (see $log)"
		return 1
	fi
	if [ "${TF_VM_ALLOW_KERNEL_WARN:-0}" != 1 ] && grep -aq 'WARNING: CPU' "$log"; then
		echo "FAIL: the guest kernel printed a WARNING (see $log)"
		return 1
	fi
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "FAIL: the VM did not finish within ${timeout}s (see $log)"
		return 1
	fi
	case "$result" in
	"TF_VM_RESULT: PASS")
		[ "${TF_VM_KEEP:-0}" = 1 ] || rm -f "$out/env.sh"
		return 0 ;;
	"TF_VM_RESULT: SKIPPED"*)
		echo "SKIPPED: ${result#TF_VM_RESULT: SKIPPED }"
		return 77 ;;
	"TF_VM_RESULT: FAIL"*)
		echo "FAIL: ${result#TF_VM_RESULT: FAIL } (see $log)"
		return 1 ;;
	*)
		echo "FAIL: the guest printed no result marker (qemu exit $rc; see $log)"
		return 1 ;;
	esac
}
