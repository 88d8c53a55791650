package zcopy

/*
#include <stdint.h>
#include <stdlib.h>
#include <zcopy.h>

extern _Bool zcgoTreeProgress(uint64_t bytes, uint64_t files, void *user);

// The tree progress trampoline is attached here, in C, so the handle (an integer) becomes the
// user pointer without a uintptr -> unsafe.Pointer conversion in Go.
static zc_status zcgo_copy_tree(const char *src, const char *dst, zc_tree_options *o,
                                zc_tree_report *r, uintptr_t handle) {
	if (handle != 0) {
		o->progress = zcgoTreeProgress;
		o->user = (void *)handle;
	}
	return zc_copy_tree(src, dst, o, r);
}
*/
import "C"

import (
	"context"
	"fmt"
	"runtime/cgo"
	"time"
	"unsafe"
)

// TreeErrors is what CopyTree does when an entry fails.
type TreeErrors string

const (
	// TreeErrorsRaise stops at the first error and returns it (the default, "").
	TreeErrorsRaise TreeErrors = "raise"
	// TreeErrorsCollect goes on with the rest of the tree, then returns one error listing every
	// failed path.
	TreeErrorsCollect TreeErrors = "collect"
)

// Specials is what CopyTree does with FIFOs, sockets and devices.
type Specials string

const (
	// SpecialsRecreate makes a new one of the same kind, as cp -a does (the default, "").
	SpecialsRecreate Specials = "recreate"
	// SpecialsError refuses it with an error wrapping ErrInvalid that names the path, as
	// Python's shutil.copytree does.
	SpecialsError Specials = "error"
)

// TreeOptions is how CopyTree copies. The zero value is cp -a: symlinks kept as links, the
// destination must not exist, one worker per CPU (at least 4), stop at the first error,
// special files recreated.
type TreeOptions struct {
	// Transfer is how each regular file is copied (Auto per file: reflink or copy_file_range
	// where the filesystem clones, holes kept, the cache and sync policies). Its offsets, Len
	// and Progress must be unset (an error wrapping ErrInvalid otherwise).
	Transfer Options
	// FollowSymlinks copies what symlinks point to instead of the links (a dangling one is then
	// an error naming it).
	FollowSymlinks bool
	// DirsExistOK copies into a destination directory that exists (and into existing
	// directories below it), replacing files of the same names.
	DirsExistOK bool
	// Workers is how many threads copy files at once; 0 means the number of CPUs, at least 4.
	Workers int
	// Errors is TreeErrorsRaise ("" too) or TreeErrorsCollect.
	Errors TreeErrors
	// Specials is SpecialsRecreate ("" too) or SpecialsError.
	Specials Specials
	// Progress, when not nil, is called at most every 50 ms and once at the end with the bytes
	// copied and the files finished so far over the whole tree; returning false stops the copy
	// with an error wrapping ErrCancelled (files being copied leave nothing under their names).
	Progress func(bytes, files int64) bool
}

// TreeReport is what CopyTree did.
type TreeReport struct {
	// Files are the regular files copied (hard links made again not counted).
	Files int64
	// Directories created (or found, with DirsExistOK).
	Directories int64
	// Symlinks made.
	Symlinks int64
	// Specials are the FIFOs, sockets and devices made.
	Specials int64
	// HardLinks made again.
	HardLinks int64
	// Bytes copied: the regular files' lengths, each file once.
	Bytes int64
	// ElapsedNs is the wall-clock time of the whole copy.
	ElapsedNs int64
	// Syscalls made by the calling thread and the workers.
	Syscalls uint64
	// Errors is how many entries failed (their paths and messages are in the error).
	Errors int64
}

// Elapsed is ElapsedNs as a time.Duration.
func (r TreeReport) Elapsed() time.Duration { return time.Duration(r.ElapsedNs) }

// treeProgressState is what the C tree progress trampoline reaches through its cgo.Handle.
type treeProgressState struct {
	ctx      context.Context
	fn       func(bytes, files int64) bool
	panicked bool
	panicVal interface{}
}

// zcgoTreeProgress is the C progress callback of CopyTree: user is the cgo.Handle of its
// treeProgressState. It runs on the thread that called zc_copy_tree, inside that call.
//
//export zcgoTreeProgress
func zcgoTreeProgress(bytes, files C.uint64_t, user unsafe.Pointer) (goOn C.bool) {
	p, ok := cgo.Handle(uintptr(user)).Value().(*treeProgressState)
	if !ok {
		return false
	}
	defer func() {
		if v := recover(); v != nil {
			// Never unwind through C: stop the copy, re-panic once it has returned.
			p.panicked, p.panicVal, goOn = true, v, false
		}
	}()
	if p.ctx != nil && p.ctx.Err() != nil {
		return false
	}
	if p.fn != nil {
		return C.bool(p.fn(int64(bytes), int64(files)))
	}
	return true
}

// CopyTree copies the tree at src to dst (io.Copy's order, as CopyFile), like cp -a:
// directories, regular files through the engine, symlinks as links, FIFOs, sockets and devices
// recreated (or refused: Specials), hard links made again, and every entry's mode, times (to
// the nanosecond), extended attributes and owner (as root) copied. Files are copied by a pool
// of Workers threads, each into a temporary name renamed into place when complete, so a file
// that fails leaves nothing under its name. src may also be a single file or symlink.
//
// On error the TreeReport holds what was done before it, and the error is an *Error
// (errors.Is(err, syscall.EEXIST) for a destination that exists without DirsExistOK); with
// TreeErrorsCollect its message lists every failed path.
func CopyTree(dst, src string, opts TreeOptions) (TreeReport, error) {
	return copyTree(nil, dst, src, opts)
}

// CopyTreeContext is CopyTree, stopping (with an error wrapping both ErrCancelled and
// ctx.Err()) within 50 ms once ctx is done.
func CopyTreeContext(ctx context.Context, dst, src string, opts TreeOptions) (TreeReport, error) {
	if err := ctx.Err(); err != nil {
		return TreeReport{}, cancelledBy(err, 0)
	}
	return copyTree(ctx, dst, src, opts)
}

func cTreeOptions(o TreeOptions) (C.zc_tree_options, error) {
	var c C.zc_tree_options
	if err := check(func() C.zc_status {
		return C.zc_status(C.zc_tree_options_default(&c, C.size_t(unsafe.Sizeof(c))))
	}); err != nil {
		return c, err
	}
	c.symlinks = C.bool(!o.FollowSymlinks)
	c.dirs_exist_ok = C.bool(o.DirsExistOK)
	if o.Workers < 0 {
		return c, invalid(fmt.Sprintf("TreeOptions.Workers is %d, which is negative", o.Workers))
	}
	c.workers = C.uint32_t(o.Workers)
	switch o.Errors {
	case "", TreeErrorsRaise:
		c.errors = C.ZC_TREE_ERRORS_RAISE
	case TreeErrorsCollect:
		c.errors = C.ZC_TREE_ERRORS_COLLECT
	default:
		return c, invalid(fmt.Sprintf("unknown errors policy %q; expected one of raise, collect", o.Errors))
	}
	switch o.Specials {
	case "", SpecialsRecreate:
		c.specials = C.ZC_SPECIALS_RECREATE
	case SpecialsError:
		c.specials = C.ZC_SPECIALS_ERROR
	default:
		return c, invalid(fmt.Sprintf("unknown specials policy %q; expected one of recreate, error", o.Specials))
	}
	return c, nil
}

func copyTree(ctx context.Context, dst, src string, opts TreeOptions) (TreeReport, error) {
	var out TreeReport
	if opts.Transfer.Progress != nil {
		return out, invalid("CopyTree takes its progress callback in TreeOptions.Progress (bytes, files), not in TreeOptions.Transfer")
	}
	ctree, err := cTreeOptions(opts)
	if err != nil {
		return out, err
	}
	// The per-file options live in C memory: the tree options point at them during the call.
	ctransfer := (*C.zc_options)(C.malloc(C.size_t(unsafe.Sizeof(C.zc_options{}))))
	defer C.free(unsafe.Pointer(ctransfer))
	if *ctransfer, err = cOptions(opts.Transfer); err != nil {
		return out, err
	}
	ctree.transfer = ctransfer
	var state *treeProgressState
	var handle cgo.Handle
	if opts.Progress != nil || (ctx != nil && ctx.Done() != nil) {
		state = &treeProgressState{ctx: ctx, fn: opts.Progress}
		handle = cgo.NewHandle(state)
		defer handle.Delete()
	}
	csrc, cdst := C.CString(src), C.CString(dst)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cdst))
	var r C.zc_tree_report
	r.struct_size = C.size_t(unsafe.Sizeof(r))
	st, errno, msg := cCall(func() C.zc_status {
		return C.zc_status(C.zcgo_copy_tree(csrc, cdst, &ctree, &r, C.uintptr_t(handle)))
	})
	out = TreeReport{
		Files: int64(r.files), Directories: int64(r.directories), Symlinks: int64(r.symlinks),
		Specials: int64(r.specials), HardLinks: int64(r.hard_links), Bytes: int64(r.bytes),
		ElapsedNs: int64(r.elapsed_ns), Syscalls: uint64(r.syscalls), Errors: int64(r.errors),
	}
	if state != nil && state.panicked {
		panic(state.panicVal)
	}
	if st != C.ZC_OK {
		e := newError(st, errno, msg, Report{Bytes: out.Bytes})
		if st == C.ZC_CANCELLED && ctx != nil && ctx.Err() != nil {
			e.cause = ctx.Err()
		}
		return out, e
	}
	return out, nil
}
