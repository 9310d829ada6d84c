// A SQLite VFS shim for the session store's WAL files, over the default VFS. Two things:
//
// Writeback hints: it starts the kernel's writeback of the WAL file while SQLite is still writing
// it, so that the fsync of a commit finds most of the bytes already on the disk instead of
// writing all of them then. (Not the database file: see v_open on POSIX locks.) Without it, a
// 1 GiB save writes 1 GiB into the page cache first and only then, inside the commit's fsync, to
// the disk: the two phases add up instead of overlapping. The hints are sync_file_range(WRITE) on
// its own descriptor of the file, every few MiB of sequential writes, issued by a background
// thread (the call blocks while the disk's queue is full; SQLite's writer must not).
//
// Write-behind: SQLite's xWrite calls on a WAL file copy the bytes into 1 MiB buffers and return;
// one thread per file writes full buffers in order (the kernel's copy into the page cache, about
// half of the connection thread's time in a large save, then overlaps SQLite's own work). Every
// other call on the file, the database file's shm barrier and lock releases, and commit frames
// first put all buffered bytes in the file, so SQLite reads, syncs, publishes commits and ends
// transactions on exactly the bytes it wrote; a failed background write fails the transaction.
// See write_behind in writeback_vfs.cpp for the argument.
//
// It changes nothing about what is written, when SQLite syncs, or what a crash leaves (the
// fsyncs are SQLite's own; a killed process leaves a prefix of SQLite's writes). Linux only;
// elsewhere, or with TOME_STORE_WRITEBACK=0 in the environment, the default VFS is used;
// TOME_STORE_WRITEBEHIND=0 turns write-behind alone off (read when SQLite opens a WAL file).
#pragma once

namespace tome::store {

// The name to pass to sqlite3_open_v2 (registered on first use), or nullptr for the default VFS.
const char* writeback_vfs_name();

// How many writeback hints the shim has issued in this process (for tests and benchmarks).
unsigned long long writeback_vfs_hints();

// How many buffers WAL write-behind threads have written in this process (tests, benchmarks).
unsigned long long writeback_vfs_behind_writes();

// How many WAL frames SQLite has rewritten in place in this process (tests, benchmarks): a page
// written where the same WAL file already held a frame of this connection's, i.e. a page of an
// open transaction that SQLite's cache spilled to the WAL and that was changed again afterwards.
// Each one also makes SQLite re-read and re-checksum every frame after it at commit.
unsigned long long writeback_vfs_wal_rewrites();

}  // namespace tome::store
