package zcopy

/*
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <zcopy.h>

extern _Bool zcgoProgress(uint64_t moved, void *user);

// As zcgo_transfer: the handle becomes the user pointer in C.
static zc_status zcgo_prepared_new(int src, int dst, zc_options *o, zc_prepared **out,
                                   uintptr_t handle) {
	if (handle != 0) {
		o->progress = zcgoProgress;
		o->user = (void *)handle;
	}
	return zc_prepared_new(src, dst, o, out);
}

// One run; each of has_* says whether its value is given (NULL to libzcopy otherwise).
static zc_status zcgo_prepared_run(zc_prepared *p, int has_len, uint64_t len, int has_src,
                                   uint64_t src_offset, int has_dst, uint64_t dst_offset,
                                   zc_report *r) {
	return zc_prepared_run(p, has_len ? &len : NULL, has_src ? &src_offset : NULL,
	                       has_dst ? &dst_offset : NULL, r);
}

static zc_status zcgo_prepared_to_dst(int dst, zc_options *o, zc_prepared **out, uintptr_t handle) {
	if (handle != 0) {
		o->progress = zcgoProgress;
		o->user = (void *)handle;
	}
	return zc_prepared_to_dst(dst, o, out);
}

// zcgo_prepared_run from src in place of the prepared source.
static zc_status zcgo_prepared_run_from(zc_prepared *p, int src, int has_len, uint64_t len,
                                        int has_src, uint64_t src_offset, int has_dst,
                                        uint64_t dst_offset, zc_report *r) {
	return zc_prepared_run_from(p, src, has_len ? &len : NULL, has_src ? &src_offset : NULL,
	                            has_dst ? &dst_offset : NULL, r);
}

// Whether fd is ready for events now.
static int zcgo_prepared_ready(int fd, short events) {
	struct pollfd p = {fd, events, 0};
	return poll(&p, 1, 0) == 1 && (p.revents & (events | POLLERR | POLLHUP)) != 0;
}
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"sync"
	"syscall"
	"unsafe"
)

// Prepared is a transfer between two descriptors prepared once by Prepare and run many times
// by Transfer: both ends are classified and the options checked once, so a run costs the
// technique's own syscalls, not a new classification (plus one fstat of a file source where a
// run needs its size now: to end of file, or past the size last seen; not for a length and a
// source offset within it, where the technique stops at the file's end by itself). It holds duplicates of the descriptors until Close, so the bytes keep going
// to the files it was prepared for even if the caller closes its own. Safe for use by one
// goroutine at a time (calls are serialized).
type Prepared struct {
	mu       sync.Mutex
	p        *C.zc_prepared
	src, dst int // the duplicates
	srcConn  syscall.RawConn
	dstConn  syscall.RawConn
	progress *progressState
	handle   cgo.Handle
}

// Prepare prepares a transfer from src to dst (io.Copy's order) with opts; its SrcOffset,
// DstOffset and Len are ignored: each Transfer gives its own. Endpoints are as for Transfer.
// The error is an *Error as Transfer's. Transfers that use mmap_write (Auto's choice for 1 MiB
// and more of a file to a socket) keep their last window of the file mapped until Close: one
// over bytes it covers makes no mmap, no munmap and no page faults for pages an earlier one
// touched. Until then the file stays open through it and its mapped pages resist Evict.
func Prepare(dst, src interface{}, opts Options) (*Prepared, error) {
	srcConn, err := rawConn(src, "src")
	if err != nil {
		return nil, err
	}
	dstConn, err := rawConn(dst, "dst")
	if err != nil {
		return nil, err
	}
	opts.SrcOffset, opts.DstOffset, opts.Len = nil, nil, nil
	copts, err := cOptions(opts)
	if err != nil {
		return nil, err
	}
	p := &Prepared{src: -1, dst: -1, srcConn: srcConn, dstConn: dstConn}
	if err := dupInto(srcConn, "src", &p.src); err != nil {
		return nil, err
	}
	if err := dupInto(dstConn, "dst", &p.dst); err != nil {
		p.closeFds()
		return nil, err
	}
	if opts.Progress != nil {
		p.progress = &progressState{fn: opts.Progress}
		p.handle = cgo.NewHandle(p.progress)
	}
	var out *C.zc_prepared
	st, errno, msg := cCall(func() C.zc_status {
		return C.zcgo_prepared_new(C.int(p.src), C.int(p.dst), &copts, &out, C.uintptr_t(p.handle))
	})
	if st != C.ZC_OK {
		p.release()
		return nil, newError(st, errno, msg, Report{})
	}
	p.p = out
	return p, nil
}

// dupInto duplicates c's descriptor into *out (close-on-exec).
func dupInto(c syscall.RawConn, role string, out *int) error {
	return control(c, role, func(fd uintptr) error {
		d, err := dupCloexec(int(fd))
		if err != nil {
			return &Error{Kind: KindIO, Errno: err.(syscall.Errno),
				Message: fmt.Sprintf("duplicating %s fd %d: %v", role, fd, err), cause: err}
		}
		*out = d
		return nil
	})
}

// add counts one C call's report into total and, with a progress callback, moves the
// callback's base on and raises again a panic the callback raised during the call.
func (p *Prepared) add(total *Report, report *C.zc_report) {
	total.add(report)
	if p.progress != nil {
		p.progress.base = total.Bytes
		if p.progress.panicked {
			p.progress.panicked = false
			panic(p.progress.panicVal)
		}
	}
}

// dupCloexec duplicates fd with close-on-exec set (F_DUPFD_CLOEXEC).
func dupCloexec(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// Transfer runs the prepared transfer: length bytes (nil: to the source's end of file) from
// srcOffset of the source to dstOffset of the destination (nil: at and advancing the
// descriptor's position). With a nil length and a srcOffset, a regular file is moved up to the
// size it had when the run began. A non-blocking end that would block is waited for through
// the Go runtime's poller, as Transfer does. The Report covers this run; on error it holds what
// was done and the error is an *Error with BytesMoved. After Close, an error of KindInvalid.
func (p *Prepared) Transfer(length, srcOffset, dstOffset *int64) (Report, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p == nil {
		return Report{}, invalid("zcopy: Transfer on a closed Prepared")
	}
	return p.run(nil, length, srcOffset, dstOffset)
}

// PrepareTo prepares a transfer to dst alone, each run naming its source (TransferFrom): dst
// is classified once, each run classifies only its source (a statx and an fcntl). For a
// server that sends many files, one after another, to one connection. opts and the error as
// for Prepare; Transfer on it is an error of KindInvalid (it has no source).
func PrepareTo(dst interface{}, opts Options) (*Prepared, error) {
	dstConn, err := rawConn(dst, "dst")
	if err != nil {
		return nil, err
	}
	opts.SrcOffset, opts.DstOffset, opts.Len = nil, nil, nil
	copts, err := cOptions(opts)
	if err != nil {
		return nil, err
	}
	p := &Prepared{src: -1, dst: -1, dstConn: dstConn}
	if err := dupInto(dstConn, "dst", &p.dst); err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		p.progress = &progressState{fn: opts.Progress}
		p.handle = cgo.NewHandle(p.progress)
	}
	var out *C.zc_prepared
	st, errno, msg := cCall(func() C.zc_status {
		return C.zc_status(C.zcgo_prepared_to_dst(C.int(p.dst), &copts, &out, C.uintptr_t(p.handle)))
	})
	if st != C.ZC_OK {
		p.release()
		return nil, newError(st, errno, msg, Report{})
	}
	p.p = out
	return p, nil
}

// TransferFrom runs the prepared transfer from src (an *os.File, a net.Conn, a syscall.Conn
// or an FD, borrowed for the call) in place of its prepared source: src is classified for this
// run and checked against the destination as Transfer checks a pair; length, srcOffset and
// dstOffset, the waits and the Report as for Transfer.
func (p *Prepared) TransferFrom(src interface{}, length, srcOffset, dstOffset *int64) (Report, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p == nil {
		return Report{}, invalid("zcopy: TransferFrom on a closed Prepared")
	}
	srcConn, err := rawConn(src, "src")
	if err != nil {
		return Report{}, err
	}
	return p.run(srcConn, length, srcOffset, dstOffset)
}

// SetCPUMeter turns the CPU meter on or off (on when prepared). Off, a run makes 4 syscalls
// fewer (getrusage and clock_gettime(CLOCK_THREAD_CPUTIME_ID) at each end) and its Report's
// UserCPUNs, SysCPUNs and context switches are 0: not measured; the rest stays exact.
func (p *Prepared) SetCPUMeter(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p == nil {
		return invalid("zcopy: SetCPUMeter on a closed Prepared")
	}
	st, errno, msg := cCall(func() C.zc_status { return C.zc_status(C.zc_prepared_set_cpu_meter(p.p, C.bool(on))) })
	if st != C.ZC_OK {
		return newError(st, errno, msg, Report{})
	}
	return nil
}

// run is Transfer (srcConn nil: the prepared source) and TransferFrom (srcConn: the run's).
func (p *Prepared) run(srcConn syscall.RawConn, length, srcOffset, dstOffset *int64) (Report, error) {
	var total Report
	var l, so, do C.uint64_t
	var hasL, hasS, hasD C.int
	for _, f := range []struct {
		v    *int64
		out  *C.uint64_t
		has  *C.int
		name string
	}{{length, &l, &hasL, "length"}, {srcOffset, &so, &hasS, "srcOffset"}, {dstOffset, &do, &hasD, "dstOffset"}} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 {
			return total, invalid(fmt.Sprintf("zcopy: %s %d is negative", f.name, *f.v))
		}
		*f.out, *f.has = C.uint64_t(*f.v), 1
	}
	if p.progress != nil {
		p.progress.base = 0
	}
	for {
		var report C.zc_report
		report.struct_size = C.size_t(unsafe.Sizeof(report))
		var st C.zc_status
		var errno C.int
		var msg string
		srcReady := true
		if srcConn == nil {
			st, errno, msg = cCall(func() C.zc_status {
				return C.zc_status(C.zcgo_prepared_run(p.p, hasL, l, hasS, so, hasD, do, &report))
			})
			srcReady = p.src < 0 || C.zcgo_prepared_ready(C.int(p.src), C.POLLIN) != 0
		} else if err := control(srcConn, "src", func(fd uintptr) error {
			st, errno, msg = cCall(func() C.zc_status {
				return C.zc_status(C.zcgo_prepared_run_from(p.p, C.int(fd), hasL, l, hasS, so, hasD, do, &report))
			})
			srcReady = C.zcgo_prepared_ready(C.int(fd), C.POLLIN) != 0
			return nil
		}); err != nil {
			return total, err
		}
		p.add(&total, &report)
		if st == C.ZC_OK {
			return total, nil
		}
		e := newError(st, errno, msg, total)
		if syscall.Errno(errno) != syscall.EAGAIN || st != C.ZC_IO {
			return total, e
		}
		// Would block: wait for the side that is not ready, then go on from where it stopped.
		moved := C.uint64_t(report.bytes)
		if hasL != 0 {
			l -= moved
		}
		if hasS != 0 {
			so += moved
		}
		if hasD != 0 {
			do += moved
		}
		var waitErr error
		switch {
		case !srcReady && srcConn != nil:
			waitErr = waitReady(srcConn, false)
		case !srcReady:
			waitErr = waitReady(p.srcConn, false)
		case C.zcgo_prepared_ready(C.int(p.dst), C.POLLOUT) == 0:
			waitErr = waitReady(p.dstConn, true)
		}
		if waitErr != nil {
			e.cause = waitErr
			e.Message += " (waiting for it: " + waitErr.Error() + ")"
			return total, e
		}
	}
}

// Close frees the prepared transfer and its duplicates of the descriptors (the caller's stay
// open). Calling it again does nothing.
func (p *Prepared) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.release()
	return nil
}

func (p *Prepared) release() {
	if p.p != nil {
		C.zc_prepared_free(p.p)
		p.p = nil
	}
	if p.handle != 0 {
		p.handle.Delete()
		p.handle = 0
	}
	p.closeFds()
}

func (p *Prepared) closeFds() {
	for _, fd := range []*int{&p.src, &p.dst} {
		if *fd >= 0 {
			syscall.Close(*fd)
			*fd = -1
		}
	}
}
