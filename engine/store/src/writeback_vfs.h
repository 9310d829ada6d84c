// A SQLite VFS shim that starts the kernel's writeback of the WAL file while SQLite is still
// writing it, so that the fsync of a commit finds most of the bytes already on the disk instead of
// writing all of them then. (Not the database file: see v_open on POSIX locks.) Without it, a 1 GiB save writes
// 1 GiB into the page cache first and only then, inside the commit's fsync, to the disk: the two
// phases add up instead of overlapping.
//
// Every call is forwarded to the default VFS; the shim only adds sync_file_range(WRITE) hints on
// its own read-only descriptor of the file, every few MiB of sequential writes, issued by a
// background thread (the call blocks while the disk's queue is full; SQLite's writer must not). It changes nothing
// about what is written, when SQLite syncs, or what a crash leaves (the fsyncs are SQLite's own).
// Linux only; elsewhere, or with TOME_STORE_WRITEBACK=0 in the environment, the default VFS is used.
#pragma once

namespace tome::store {

// The name to pass to sqlite3_open_v2 (registered on first use), or nullptr for the default VFS.
const char* writeback_vfs_name();

// How many writeback hints the shim has issued in this process (for tests and benchmarks).
unsigned long long writeback_vfs_hints();

}  // namespace tome::store
