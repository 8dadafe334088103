/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A SQLite VFS for tests that forwards everything to the default VFS and fails
 * writes to write-ahead logs on demand: after fault_vfs_fail_wal_writes(n) the
 * next n WAL writes return SQLITE_IOERR_WRITE (a full or failing disk). The
 * ledger code under test is unchanged: the shim is installed as SQLite's
 * default VFS before it opens anything.
 */
#ifndef TF_FAULT_VFS_H
#define TF_FAULT_VFS_H

/* Registers the shim as the default VFS: 0, or -1. */
int fault_vfs_install(void);
/* The next n writes to a WAL file fail. */
void fault_vfs_fail_wal_writes(int n);
/* WAL writes failed so far. */
int fault_vfs_failed(void);

#endif /* TF_FAULT_VFS_H */
