#!/bin/busybox sh
# SPDX-License-Identifier: BSD-3-Clause
# /init of the VM tier's initramfs (see vm.sh). Loads the virtio/9p modules,
# mounts the host's root read-only over 9p, the run's writable export at the
# same path as on the host, then runs the guest wrapper in a chroot and
# powers off. Result markers are printed by the wrapper. The project tree is
# exported on its own (9p tag tfproj) and mounted at its host path after the
# guest's tmpfs mounts, so a checkout under /tmp (as CI makes) stays visible.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

die() {
	echo "TF_VM_RESULT: FAIL initramfs: $*"
	sync
	poweroff -f
}

for m in $(cat /modules.order); do
	insmod "$m" || die "insmod $m failed"
done

run= out= proj= msize=262144
for a in $(cat /proc/cmdline); do
	case "$a" in
	tf.run=*) run=${a#tf.run=} ;;
	tf.out=*) out=${a#tf.out=} ;;
	tf.proj=*) proj=${a#tf.proj=} ;;
	tf.msize=*) msize=${a#tf.msize=} ;;
	esac
done
[ -n "$run" ] && [ -n "$out" ] && [ -n "$proj" ] ||
	die "kernel command line lacks tf.run=, tf.out= or tf.proj="

r=/newroot
mkdir -p $r
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=$msize,cache=loose tfroot $r ||
	die "cannot mount the host root (9p tag tfroot)"
mount -t proc proc $r/proc
mount -t sysfs sysfs $r/sys
mount -t devtmpfs devtmpfs $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts devpts $r/dev/pts
# What udev would add: bash process substitution needs /dev/fd.
ln -sf /proc/self/fd $r/dev/fd
ln -sf /proc/self/fd/0 $r/dev/stdin
ln -sf /proc/self/fd/1 $r/dev/stdout
ln -sf /proc/self/fd/2 $r/dev/stderr
mount -t tmpfs tmpfs $r/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $r/tmp
mount -t tmpfs -o mode=0755 tmpfs $r/run
mount -t tmpfs -o mode=1777 tmpfs $r/var/tmp
mount -t debugfs debugfs $r/sys/kernel/debug 2>/dev/null
mount -t configfs configfs $r/sys/kernel/config 2>/dev/null
mkdir -p $r$proj 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=$msize,cache=loose tfproj $r$proj ||
	die "cannot mount the project tree (9p tag tfproj) at $proj"
mkdir -p $r$out 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=$msize,cache=none tfout $r$out ||
	die "cannot mount the writable export (9p tag tfout) at $out"

chroot $r /bin/bash "$run" "$out"
echo "tf-vm: guest wrapper exited with $?"
sync
poweroff -f
