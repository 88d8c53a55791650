package zcopy

/*
#include <stdint.h>
#include <stdlib.h>
#include <zcopy.h>

extern _Bool zcgoFilesEach(char *path, int code, char *msg, void *user);

static _Bool zcgo_files_each(const char *path, int code, const char *msg, void *user) {
	return zcgoFilesEach((char *)path, code, (char *)msg, user);
}

// zc_files with zcgoFilesEach as the function; the handle becomes the user pointer in C.
static zc_status zcgo_files(const char *const *paths, size_t n, uintptr_t handle,
                            zc_files_summary *out) {
	return zc_files(paths, n, zcgo_files_each, (void *)handle, out);
}
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// Locked holds pages of a file locked in memory by Lock: they stay in the page cache,
// whatever the memory pressure, until Close. It is not tied to the file, which may be closed
// meanwhile. Safe for concurrent use.
type Locked struct {
	mu sync.Mutex
	l  *C.zc_locked
}

// Lock maps length bytes of f from offset (ToEnd: to end of file; a range past the end is cut
// there) read-only and locks them in memory with mlock(2), as vmtouch -l does: the kernel reads
// every page in and keeps it resident until Close. The pages are never touched from user
// space, so a truncation meanwhile cannot raise SIGBUS. f is an *os.File, any syscall.Conn or
// an FD.
//
// Locked memory counts against RLIMIT_MEMLOCK (ulimit -l; LockLimit tells it) unless the
// process has CAP_IPC_LOCK; past it the error wraps syscall.ENOMEM (EPERM when the limit is
// 0) and nothing stays locked. A pipe or socket (no page cache) gives an error wrapping
// ErrInvalid.
func Lock(f interface{}, offset, length int64) (*Locked, error) {
	var l *C.zc_locked
	err := cacheCall(f, offset, length, func(fd C.int, clen *C.uint64_t) C.zc_status {
		return C.zc_status(C.zc_lock(fd, C.uint64_t(offset), clen, &l))
	})
	if err != nil {
		return nil, err
	}
	locked := &Locked{l: l}
	// A Locked dropped without Close still unlocks, when the collector finds it.
	runtime.SetFinalizer(locked, func(x *Locked) { x.Close() })
	return locked, nil
}

// Pages is how many pages are locked (the system page size each; the last may be partial);
// 0 after Close.
func (l *Locked) Pages() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(C.zc_locked_pages(l.l))
}

// Bytes is how many bytes are locked, from the page boundary at or below the offset to the end
// of the range (cut at end of file); 0 after Close.
func (l *Locked) Bytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(C.zc_locked_bytes(l.l))
}

// Close unlocks and unmaps the pages (they may then leave the page cache). Calling it again
// does nothing.
func (l *Locked) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.l != nil {
		C.zc_unlock(l.l)
		l.l = nil
	}
	return nil
}

// LockLimit is the most bytes this process may lock with Lock: the soft RLIMIT_MEMLOCK
// (ulimit -l), with ok true when it binds; ok is false when nothing binds (the limit is
// unlimited, or the process has CAP_IPC_LOCK, as root usually does). Memory already locked
// counts against the same limit.
func LockLimit() (limit uint64, ok bool) {
	var n C.uint64_t
	if !bool(C.zc_lock_limit(&n)) {
		return 0, false
	}
	return uint64(n), true
}

// FileError is a path Files could not read, and why (an *Error wrapping the errno, so
// errors.Is(e.Err, fs.ErrNotExist) works).
type FileError struct {
	Path string
	Err  error
}

// FileWalk is what Files found.
type FileWalk struct {
	// Files, in the order met: each path given that is not a directory, and every regular file
	// under each directory given.
	Files []string
	// Directories walked (each given directory and every one below it).
	Directories int64
	// AnyDirectory says whether a path given was a directory.
	AnyDirectory bool
	// Errors are what could not be read (a missing path, a directory that cannot be listed);
	// the rest was walked all the same.
	Errors []FileError
}

// Files lists the files under paths as vmtouch walks them: each path given that is not a
// directory (followed if a symlink; a pipe or device named is kept), and every regular file
// under each directory given, recursively, its entries in name order; inside directories,
// symlinks, pipes, sockets and devices are skipped and a file met before (a hard link) is
// taken once. Nothing is opened but directories. A path that cannot be read is in Errors, not
// the error returned (which is for a failure of the call itself).
func Files(paths ...string) (FileWalk, error) {
	var walk FileWalk
	n := len(paths)
	var cpaths **C.char
	if n > 0 {
		cpaths = (**C.char)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
		defer C.free(unsafe.Pointer(cpaths))
		list := unsafe.Slice(cpaths, n)
		for i, p := range paths {
			list[i] = C.CString(p)
		}
		defer func() {
			for _, p := range list {
				C.free(unsafe.Pointer(p))
			}
		}()
	}
	state := &filesState{walk: &walk}
	h := cgo.NewHandle(state)
	defer h.Delete()
	var sum C.zc_files_summary
	sum.struct_size = C.size_t(unsafe.Sizeof(sum))
	if err := check(func() C.zc_status {
		return C.zcgo_files(cpaths, C.size_t(n), C.uintptr_t(h), &sum)
	}); err != nil {
		return FileWalk{}, err
	}
	walk.Directories = int64(sum.directories)
	walk.AnyDirectory = bool(sum.any_directory)
	return walk, nil
}
