/* SPDX-License-Identifier: BSD-3-Clause */
/* Fault-injecting SQLite VFS shim (see fault_vfs.h). Test code only. */
#include "fault_vfs.h"

#include <sqlite3.h>
#include <string.h>

struct ffile {
	sqlite3_file base; /* first: SQLite sees this */
	int is_wal;
	sqlite3_file *real; /* the default VFS's file, allocated right after */
};

static sqlite3_vfs *g_real;
static sqlite3_vfs g_vfs;
static int g_fail_writes, g_failed;

#define REAL(f) (((struct ffile *)(f))->real)

static int
f_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int
f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int
f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (((struct ffile *)f)->is_wal && __atomic_load_n(&g_fail_writes, __ATOMIC_ACQUIRE) > 0 &&
	    __atomic_sub_fetch(&g_fail_writes, 1, __ATOMIC_ACQ_REL) >= 0) {
		__atomic_add_fetch(&g_failed, 1, __ATOMIC_ACQ_REL);
		return SQLITE_IOERR_WRITE;
	}
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int
f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
f_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
f_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int
f_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int
f_check_lock(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
f_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
f_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
f_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void
f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
f_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static const sqlite3_io_methods g_io = {
	.iVersion = 2,
	.xClose = f_close,
	.xRead = f_read,
	.xWrite = f_write,
	.xTruncate = f_truncate,
	.xSync = f_sync,
	.xFileSize = f_size,
	.xLock = f_lock,
	.xUnlock = f_unlock,
	.xCheckReservedLock = f_check_lock,
	.xFileControl = f_fcntl,
	.xSectorSize = f_sector,
	.xDeviceCharacteristics = f_devchar,
	.xShmMap = f_shm_map,
	.xShmLock = f_shm_lock,
	.xShmBarrier = f_shm_barrier,
	.xShmUnmap = f_shm_unmap,
};

static int
f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	struct ffile *f = (struct ffile *)file;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
	rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
	/* SQLite calls xClose only when pMethods is set. */
	f->base.pMethods = f->real->pMethods ? &g_io : NULL;
	return rc;
}

#define FWD(name, ...) return g_real->name(g_real, __VA_ARGS__)

static int
f_delete(sqlite3_vfs *v, const char *n, int sync)
{
	(void)v;
	FWD(xDelete, n, sync);
}

static int
f_access(sqlite3_vfs *v, const char *n, int flags, int *out)
{
	(void)v;
	FWD(xAccess, n, flags, out);
}

static int
f_full(sqlite3_vfs *v, const char *n, int len, char *out)
{
	(void)v;
	FWD(xFullPathname, n, len, out);
}

static void *
f_dlopen(sqlite3_vfs *v, const char *n)
{
	(void)v;
	FWD(xDlOpen, n);
}

static void
f_dlerror(sqlite3_vfs *v, int n, char *msg)
{
	(void)v;
	g_real->xDlError(g_real, n, msg);
}

static void (*f_dlsym(sqlite3_vfs *v, void *h, const char *s))(void)
{
	(void)v;
	FWD(xDlSym, h, s);
}

static void
f_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	g_real->xDlClose(g_real, h);
}

static int
f_random(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	FWD(xRandomness, n, out);
}

static int
f_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	FWD(xSleep, us);
}

static int
f_time(sqlite3_vfs *v, double *t)
{
	(void)v;
	FWD(xCurrentTime, t);
}

static int
f_lasterr(sqlite3_vfs *v, int n, char *s)
{
	(void)v;
	FWD(xGetLastError, n, s);
}

static int
f_time64(sqlite3_vfs *v, sqlite3_int64 *t)
{
	(void)v;
	FWD(xCurrentTimeInt64, t);
}

int
fault_vfs_install(void)
{
	if (g_real)
		return 0;
	g_real = sqlite3_vfs_find(NULL);
	if (!g_real)
		return -1;
	g_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct ffile) + g_real->szOsFile,
		.mxPathname = g_real->mxPathname,
		.zName = "tf-fault",
		.xOpen = f_open,
		.xDelete = f_delete,
		.xAccess = f_access,
		.xFullPathname = f_full,
		.xDlOpen = f_dlopen,
		.xDlError = f_dlerror,
		.xDlSym = f_dlsym,
		.xDlClose = f_dlclose,
		.xRandomness = f_random,
		.xSleep = f_sleep,
		.xCurrentTime = f_time,
		.xGetLastError = f_lasterr,
		.xCurrentTimeInt64 = f_time64,
	};
	return sqlite3_vfs_register(&g_vfs, 1) == SQLITE_OK ? 0 : -1;
}

void
fault_vfs_fail_wal_writes(int n)
{
	__atomic_store_n(&g_fail_writes, n, __ATOMIC_RELEASE);
}

int
fault_vfs_failed(void)
{
	return __atomic_load_n(&g_failed, __ATOMIC_ACQUIRE);
}
