// Package zcopy moves bytes between file descriptors by every technique Linux offers
// (read+write, mmap+write, sendfile, splice, copy_file_range, reflink, O_DIRECT, io_uring,
// MSG_ZEROCOPY), picks the best one for the pair automatically, and reports what each transfer
// cost: syscalls, user↔kernel mode switches, CPU time, context switches and the modelled CPU and
// DMA copies.
//
// It wraps libzcopy (the C ABI of the Rust engine) with cgo, found through pkg-config
// (`bash scripts/install-c.sh` installs it into /usr/local; with another PREFIX, set
// PKG_CONFIG_PATH=PREFIX/lib/pkgconfig). It links libzcopy.so.1 (pkg-config zcopy), or with the
// build tag zcopy_static libzcopy.a (pkg-config --static zcopy-static), and needs cgo: a build
// with CGO_ENABLED=0 fails with a message saying so. Every behaviour comes from the engine; this
// package translates types and errors, and waits through the Go runtime's poller when a
// non-blocking descriptor (a net.Conn, an os.Pipe end) would block.
//
//	report, err := zcopy.Transfer(conn, file, zcopy.Options{})
//	if err != nil {
//		var zerr *zcopy.Error
//		if errors.As(err, &zerr) {
//			log.Printf("failed after %d bytes: %v", zerr.BytesMoved, err)
//		}
//	}
//	log.Printf("%s moved %d bytes in %d syscalls", report.Strategy, report.Bytes, report.Syscalls)
//
// Endpoints are *os.File, net.Conn values from package net (*net.TCPConn, *net.UnixConn), any
// syscall.Conn, or an FD. They are borrowed: never closed, their flags left as found; a
// descriptor is kept alive (and unclosable) for the whole call.
package zcopy

/*
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <zcopy.h>

extern _Bool zcgoProgress(uint64_t moved, void *user);

// The progress trampoline is attached here, in C, so that the handle (an integer) becomes the
// user pointer without a uintptr -> unsafe.Pointer conversion in Go.
static zc_status zcgo_transfer(int src, int dst, zc_options *o, zc_report *r, uintptr_t handle) {
	if (handle != 0) {
		o->progress = zcgoProgress;
		o->user = (void *)handle;
	}
	return zc_transfer(src, dst, o, r);
}

static zc_status zcgo_transfer_buffered(int src, const uint8_t *ahead, size_t ahead_len, int dst,
                                        zc_options *o, zc_report *r, uintptr_t handle) {
	if (handle != 0) {
		o->progress = zcgoProgress;
		o->user = (void *)handle;
	}
	return zc_transfer_buffered(src, ahead, ahead_len, dst, o, r);
}

static zc_status zcgo_copy_file(const char *src, const char *dst, zc_options *o, zc_report *r,
                                uintptr_t handle) {
	if (handle != 0) {
		o->progress = zcgoProgress;
		o->user = (void *)handle;
	}
	return zc_copy_file(src, dst, o, r);
}

// Whether fd is ready for events within timeout_ms (0: now).
static int zcgo_ready_within(int fd, short events, int timeout_ms) {
	struct pollfd p = {fd, events, 0};
	return poll(&p, 1, timeout_ms) == 1 && (p.revents & (events | POLLERR | POLLHUP)) != 0;
}

// Whether fd is ready for events now (poll with a zero timeout).
static int zcgo_ready(int fd, short events) { return zcgo_ready_within(fd, events, 0); }
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime/cgo"
	"syscall"
	"time"
	"unsafe"
)

// Strategy is a technique for moving bytes, or Auto to let the planner choose. The names are
// the ones every face of zcopy uses.
type Strategy string

// The strategies. Strategies lists the ones the linked library knows.
const (
	Auto          Strategy = "auto"
	ReadWrite     Strategy = "read_write"
	MmapWrite     Strategy = "mmap_write"
	Sendfile      Strategy = "sendfile"
	Splice        Strategy = "splice"
	CopyFileRange Strategy = "copy_file_range"
	Reflink       Strategy = "reflink"
	Direct        Strategy = "direct"
	IoUring       Strategy = "io_uring"
	MsgZerocopy   Strategy = "msg_zerocopy"
)

func (s Strategy) String() string { return string(s) }

// Strategies returns every strategy the linked library knows, Auto first.
func Strategies() []Strategy {
	var out []Strategy
	for i := C.zc_strategy(0); ; i++ {
		name := C.zc_strategy_name(i)
		if name == nil {
			return out
		}
		out = append(out, Strategy(C.GoString(name)))
	}
}

func strategyName(s C.zc_strategy) Strategy {
	name := C.zc_strategy_name(s)
	if name == nil {
		return Strategy(fmt.Sprintf("unknown(%d)", uint32(s)))
	}
	return Strategy(C.GoString(name))
}

// CachePolicy says what a transfer does to the page cache.
type CachePolicy string

// The cache policies.
const (
	// CacheKeep leaves the cache as the transfer leaves it (the default).
	CacheKeep CachePolicy = "keep"
	// CacheDropAfter evicts the pages the transfer brought into the cache (source and
	// destination, dirty ones written back first); pages resident before stay.
	CacheDropAfter CachePolicy = "drop_after"
	// CacheNoReuse advises POSIX_FADV_NOREUSE on both ranges first.
	CacheNoReuse CachePolicy = "noreuse"
	// CacheDontCache reads and writes regular files uncached (RWF_DONTCACHE, Linux 6.14+):
	// the pages brought in are dropped once read or written back, and the transfer returns
	// once its last writes completed, so none is left cached. Where the kernel or
	// filesystem refuses it, Auto copies with CacheDropAfter (the Report's Fallbacks say so).
	CacheDontCache CachePolicy = "dontcache"
)

// SyncPolicy says what a transfer makes durable before it returns.
type SyncPolicy string

// The sync policies.
const (
	// SyncNone makes nothing durable (the default).
	SyncNone SyncPolicy = "none"
	// SyncData fdatasyncs the destination at the end.
	SyncData SyncPolicy = "data"
	// SyncFull fsyncs the destination at the end.
	SyncFull SyncPolicy = "full"
)

// Options says how to run a transfer. The zero value is the default: Auto, from each
// descriptor's position (which advances) to end of file, fallback allowed.
type Options struct {
	// Strategy is the technique to use; "" is Auto.
	Strategy Strategy
	// SrcOffset, when not nil, is where to read the source; the descriptor's position is then
	// left alone. nil reads from the position, which advances by the bytes moved.
	SrcOffset *int64
	// DstOffset is SrcOffset for the destination.
	DstOffset *int64
	// Len, when not nil, is how many bytes to move (0 moves nothing); nil runs to end of file.
	Len *int64
	// ChunkSize is the bytes per syscall; 0 uses each technique's own.
	ChunkSize int64
	// NoFallback asks for exactly Strategy, or an error wrapping ErrUnsupported.
	NoFallback bool
	// Progress, when not nil, is called after each chunk with the bytes moved so far, and every
	// 100 ms with the same count while the transfer waits (a FIFO's open, an idle source, a
	// full destination); returning false stops the transfer with an error wrapping
	// ErrCancelled, also in the middle of such a wait.
	Progress func(moved int64) bool
	// Cache is what the transfer does to the page cache; "" is CacheKeep.
	Cache CachePolicy
	// Sync is what it makes durable before returning; "" is SyncNone.
	Sync SyncPolicy
	// DirectThreshold, when not nil, is the size from which Auto moves a file with Direct
	// (O_DIRECT, bypassing the page cache), as nginx's directio.
	DirectThreshold *int64
	// NoSparse writes the zeros of a sparse source's holes instead of keeping the holes.
	NoSparse bool
	// QueueDepth is how many requests IoUring keeps in flight (1 to 1024); 0 means 4.
	QueueDepth uint32
	// Parallelism is how many threads move a regular file → regular file transfer of at least
	// 16 MiB at once, each a contiguous range of at least 8 MiB (at most 64); 0 and 1 mean one.
	// Other transfers run on one thread. Progress is still called from the calling goroutine's
	// thread with the bytes all threads moved. On error the Report's Bytes (and BytesMoved) is
	// the contiguous prefix from the start that is completely written; bytes past it may have
	// been written too. Auto never turns it on: measured here, 2 threads ran at 0.97–0.98× one
	// thread hot, 0.79–0.96× cold (16 and 256 MiB, 2 vCPUs, ext4).
	Parallelism uint32
}

// Int64 returns a pointer to v, for the optional fields of Options:
// Options{SrcOffset: zcopy.Int64(4096), Len: zcopy.Int64(1 << 20)}.
func Int64(v int64) *int64 { return &v }

// Fallback is a technique the planner tried before the one that moved the bytes, and why it
// moved on.
type Fallback struct {
	Strategy Strategy
	Reason   string
}

// Report is what one transfer did and cost.
type Report struct {
	// Bytes moved to the destination.
	Bytes int64
	// Strategy is the technique that moved them.
	Strategy Strategy
	// Fallbacks are the techniques tried before it, in order, with their reasons.
	Fallbacks []Fallback
	// ElapsedNs is the wall-clock time of the call (see Elapsed).
	ElapsedNs int64
	// Syscalls the engine made for the call (exact: they match strace -c).
	Syscalls uint64
	// ModeSwitches are user↔kernel transitions: two per syscall (not scheduler switches).
	ModeSwitches uint64
	// UserCPUNs and SysCPUNs are the calling thread's CPU time in user space and in the kernel.
	UserCPUNs uint64
	SysCPUNs  uint64
	// VoluntaryCtxSwitches and InvoluntaryCtxSwitches are scheduler context switches.
	VoluntaryCtxSwitches   uint64
	InvoluntaryCtxSwitches uint64
	// CPUCopiesBytes and DMACopiesBytes are the modelled copies (DESIGN.md's table).
	CPUCopiesBytes uint64
	DMACopiesBytes uint64
	// ZerocopySends are send(MSG_ZEROCOPY) calls; ZerocopyCopied those the kernel copied anyway.
	ZerocopySends  uint64
	ZerocopyCopied uint64
}

// Elapsed is ElapsedNs as a time.Duration.
func (r Report) Elapsed() time.Duration { return time.Duration(r.ElapsedNs) }

// add accumulates the report of one call of a transfer that had to wait part way.
func (r *Report) add(c *C.zc_report) {
	r.Bytes += int64(c.bytes)
	r.Strategy = strategyName(c.strategy)
	if r.Fallbacks == nil {
		n := int(c.fallbacks_len)
		if n > len(c.fallbacks) {
			n = len(c.fallbacks)
		}
		for i := 0; i < n; i++ {
			f := &c.fallbacks[i]
			r.Fallbacks = append(r.Fallbacks, Fallback{
				Strategy: strategyName(f.strategy),
				Reason:   C.GoString(&f.reason[0]),
			})
		}
	}
	r.ElapsedNs += int64(c.elapsed_ns)
	r.Syscalls += uint64(c.syscalls)
	r.ModeSwitches += uint64(c.mode_switches)
	r.UserCPUNs += uint64(c.user_cpu_ns)
	r.SysCPUNs += uint64(c.sys_cpu_ns)
	r.VoluntaryCtxSwitches += uint64(c.voluntary_ctx_switches)
	r.InvoluntaryCtxSwitches += uint64(c.involuntary_ctx_switches)
	r.CPUCopiesBytes += uint64(c.cpu_copies_bytes)
	r.DMACopiesBytes += uint64(c.dma_copies_bytes)
	r.ZerocopySends += uint64(c.zerocopy_sends)
	r.ZerocopyCopied += uint64(c.zerocopy_copied)
}

// Version is the version of the linked libzcopy.
func Version() string { return C.GoString(C.zc_version()) }

// cOptions translates Options; an unknown name is an *Error wrapping ErrInvalid.
func cOptions(o Options) (C.zc_options, error) {
	var c C.zc_options
	if err := check(func() C.zc_status {
		return C.zc_status(C.zc_options_default(&c, C.size_t(unsafe.Sizeof(c))))
	}); err != nil {
		return c, err
	}
	if o.Strategy != "" {
		name := C.CString(string(o.Strategy))
		defer C.free(unsafe.Pointer(name))
		if err := check(func() C.zc_status { return C.zc_status(C.zc_strategy_from_name(name, &c.strategy)) }); err != nil {
			return c, err
		}
	}
	for _, off := range []struct {
		name string
		v    *int64
		has  *C.bool
		out  *C.uint64_t
	}{
		{"SrcOffset", o.SrcOffset, &c.has_src_offset, &c.src_offset},
		{"DstOffset", o.DstOffset, &c.has_dst_offset, &c.dst_offset},
		{"Len", o.Len, &c.has_len, &c.len},
		{"DirectThreshold", o.DirectThreshold, &c.has_direct_threshold, &c.direct_threshold},
	} {
		if off.v == nil {
			continue
		}
		if *off.v < 0 {
			return c, invalid(fmt.Sprintf("Options.%s is %d, which is negative", off.name, *off.v))
		}
		*off.has = true
		*off.out = C.uint64_t(*off.v)
	}
	if o.ChunkSize < 0 {
		return c, invalid(fmt.Sprintf("Options.ChunkSize is %d, which is negative", o.ChunkSize))
	}
	c.chunk_size = C.uint64_t(o.ChunkSize)
	c.fallback = C.bool(!o.NoFallback)
	if o.NoSparse {
		c.sparse = C.ZC_SPARSE_WRITE_ZEROS
	}
	c.queue_depth = C.uint64_t(o.QueueDepth)
	c.parallelism = C.uint64_t(o.Parallelism)
	switch o.Cache {
	case "", CacheKeep:
		c.cache = C.ZC_CACHE_KEEP
	case CacheDropAfter:
		c.cache = C.ZC_CACHE_DROP_AFTER
	case CacheNoReuse:
		c.cache = C.ZC_CACHE_NOREUSE
	case CacheDontCache:
		c.cache = C.ZC_CACHE_DONTCACHE
	default:
		return c, invalid(fmt.Sprintf("unknown cache policy %q; expected one of keep, drop_after, noreuse, dontcache", o.Cache))
	}
	switch o.Sync {
	case "", SyncNone:
		c.sync = C.ZC_SYNC_NONE
	case SyncData:
		c.sync = C.ZC_SYNC_DATA
	case SyncFull:
		c.sync = C.ZC_SYNC_FULL
	default:
		return c, invalid(fmt.Sprintf("unknown sync policy %q; expected one of none, data, full", o.Sync))
	}
	return c, nil
}

// progressState is what the C progress trampoline reaches through its cgo.Handle.
type progressState struct {
	ctx      context.Context
	fn       func(int64) bool
	base     int64 // bytes moved by earlier calls of the same transfer
	panicked bool
	panicVal interface{}
}

func (p *progressState) call(moved int64) (goOn bool) {
	defer func() {
		if v := recover(); v != nil {
			// Never unwind through C: stop the transfer, re-panic once it has returned.
			p.panicked, p.panicVal, goOn = true, v, false
		}
	}()
	if p.ctx != nil && p.ctx.Err() != nil {
		return false
	}
	if p.fn != nil {
		return p.fn(p.base + moved)
	}
	return true
}

// newProgress returns the handle for a transfer's progress state, or 0 when none is needed.
func newProgress(ctx context.Context, fn func(int64) bool) (*progressState, cgo.Handle) {
	if fn == nil && (ctx == nil || ctx.Done() == nil) {
		return nil, 0
	}
	p := &progressState{ctx: ctx, fn: fn}
	return p, cgo.NewHandle(p)
}

// Transfer moves bytes from src to dst (io.Copy's order) as opts says, and reports what it
// cost. src and dst are *os.File, net.Conn values from package net, any syscall.Conn, or an FD.
//
// A non-blocking descriptor that would block (a net.Conn, an os.Pipe end) is waited for
// through the Go runtime's poller, as io.Copy would, honouring its deadlines. On error the
// Report holds what was done and the error is an *Error with BytesMoved.
func Transfer(dst, src interface{}, opts Options) (Report, error) {
	return transfer(context.Background(), dst, src, nil, opts)
}

// TransferBuffered is Transfer for a source some of whose bytes a buffered reader has already
// read: readAhead (the bytes a bufio.Reader holds, from r.Peek(r.Buffered()), say) goes to dst
// first, then the rest of src from its position, as one transfer with one Report. Len,
// DstOffset and Progress count from the first byte of readAhead; a SrcOffset with a non-empty
// readAhead is ErrInvalid (those bytes come before the descriptor's position). Afterwards the
// caller drops min(len(readAhead), Report.Bytes) bytes from its reader (bufio.Reader.Discard);
// on error, Error.BytesMoved counts the bytes of readAhead that went out too.
func TransferBuffered(dst, src interface{}, readAhead []byte, opts Options) (Report, error) {
	return transfer(context.Background(), dst, src, readAhead, opts)
}

// TransferContext is Transfer, stopping (with an error wrapping both ErrCancelled and
// ctx.Err()) once ctx is done: between chunks, and within 100 ms in any wait (an idle source,
// a full pipe or a peer that does not read, whether the engine or the Go poller waits).
func TransferContext(ctx context.Context, dst, src interface{}, opts Options) (Report, error) {
	return transfer(ctx, dst, src, nil, opts)
}

// transfer is Transfer, TransferContext and TransferBuffered: readAhead (may be empty) goes out
// first, and what of it went out is dropped before the call is made again after a wait.
func transfer(ctx context.Context, dst, src interface{}, readAhead []byte, opts Options) (Report, error) {
	var total Report
	srcConn, err := rawConn(src, "src")
	if err != nil {
		return total, err
	}
	dstConn, err := rawConn(dst, "dst")
	if err != nil {
		return total, err
	}
	copts, err := cOptions(opts)
	if err != nil {
		return total, err
	}
	if err := ctx.Err(); err != nil {
		return total, cancelledBy(err, 0)
	}
	progress, handle := newProgress(ctx, opts.Progress)
	if handle != 0 {
		defer handle.Delete()
	}
	for {
		var report C.zc_report
		report.struct_size = C.size_t(unsafe.Sizeof(report))
		var st C.zc_status
		var errno C.int
		var msg string
		ready := [2]bool{true, true}
		ctlErr := control(srcConn, "src", func(sfd uintptr) error {
			return control(dstConn, "dst", func(dfd uintptr) error {
				o := copts // zcgo_transfer sets the progress fields of its own copy
				st, errno, msg = cCall(func() C.zc_status {
					if len(readAhead) > 0 {
						// The bytes are Go memory without Go pointers, pinned for the call.
						return C.zc_status(C.zcgo_transfer_buffered(C.int(sfd),
							(*C.uint8_t)(unsafe.Pointer(&readAhead[0])), C.size_t(len(readAhead)),
							C.int(dfd), &o, &report, C.uintptr_t(handle)))
					}
					return C.zc_status(C.zcgo_transfer(C.int(sfd), C.int(dfd), &o, &report, C.uintptr_t(handle)))
				})
				if st != C.ZC_OK && syscall.Errno(errno) == syscall.EAGAIN {
					ready[0] = C.zcgo_ready(C.int(sfd), C.POLLIN) != 0
					ready[1] = C.zcgo_ready(C.int(dfd), C.POLLOUT) != 0
				}
				return nil
			})
		})
		if ctlErr != nil {
			return total, ctlErr
		}
		total.add(&report)
		if progress != nil {
			progress.base = total.Bytes
			if progress.panicked {
				panic(progress.panicVal)
			}
		}
		if st == C.ZC_OK {
			return total, nil
		}
		e := newError(st, errno, msg, total)
		if st == C.ZC_CANCELLED && ctx.Err() != nil {
			e.cause = ctx.Err()
		}
		if syscall.Errno(errno) != syscall.EAGAIN || st != C.ZC_IO {
			return total, e
		}
		// Would block: wait for the side that is not ready through the runtime poller, then
		// go on from where it stopped.
		moved := C.uint64_t(report.bytes)
		if uint64(moved) >= uint64(len(readAhead)) {
			readAhead = nil
		} else {
			readAhead = readAhead[moved:]
		}
		if copts.has_len {
			copts.len -= moved
		}
		if copts.has_src_offset {
			copts.src_offset += moved
		}
		if copts.has_dst_offset {
			copts.dst_offset += moved
		}
		var waitErr error
		stop := stopAsked(ctx, progress)
		switch {
		case !ready[0]:
			waitErr = waitReadyStoppable(srcConn, false, stop)
		case !ready[1]:
			waitErr = waitReadyStoppable(dstConn, true, stop)
		default:
			time.Sleep(time.Millisecond) // both ready again already: a race; try again
		}
		if waitErr == errStopAsked {
			if err := ctx.Err(); err != nil {
				return total, cancelledBy(err, total.Bytes)
			}
			return total, cancelledBy(errors.New("stopped by the progress callback while waiting"), total.Bytes)
		}
		if waitErr != nil {
			e.cause = waitErr
			e.Message += " (waiting for it: " + waitErr.Error() + ")"
			return total, e
		}
		if err := ctx.Err(); err != nil {
			return total, cancelledBy(err, total.Bytes)
		}
	}
}

// errStopAsked is waitReadyStoppable's answer when stop said stop.
var errStopAsked = errors.New("zcopy: stop asked while waiting")

// stopAsked is what a wait for a non-blocking descriptor asks every tick: whether ctx is done
// or the progress function says stop (given the bytes moved so far). nil when neither can stop
// the transfer.
func stopAsked(ctx context.Context, progress *progressState) func() bool {
	if progress == nil && ctx.Done() == nil {
		return nil
	}
	return func() bool {
		if ctx.Err() != nil {
			return true
		}
		return progress != nil && !progress.call(0)
	}
}

// tickMs is how long one slice of a stoppable wait lasts (the engine's own tick).
const tickMs = 100

// waitReadyStoppable is waitReady cut into ticks of tickMs when stop is not nil: a blocking
// poll of one tick inside the RawConn callback (so deadlines are still honoured, to a tick),
// then stop is asked. Every wait for a descriptor can then be stopped.
func waitReadyStoppable(c syscall.RawConn, write bool, stop func() bool) error {
	if stop == nil {
		return waitReady(c, write)
	}
	var events C.short = C.POLLIN
	if write {
		events = C.POLLOUT
	}
	for {
		ready := false
		tick := func(fd uintptr) bool {
			ready = C.zcgo_ready_within(C.int(fd), events, tickMs) != 0
			return true
		}
		var err error
		if write {
			err = c.Write(tick)
		} else {
			err = c.Read(tick)
		}
		if err != nil {
			return err
		}
		if ready {
			return nil
		}
		if stop() {
			return errStopAsked
		}
	}
}

// waitReady blocks until the poller says c is readable (or writable), honouring deadlines.
// Readiness is asked with poll inside the callback, after the poller has reset its state: an
// edge that came between the engine's EAGAIN and this wait is not lost.
func waitReady(c syscall.RawConn, write bool) error {
	if write {
		return c.Write(func(fd uintptr) bool { return C.zcgo_ready(C.int(fd), C.POLLOUT) != 0 })
	}
	return c.Read(func(fd uintptr) bool { return C.zcgo_ready(C.int(fd), C.POLLIN) != 0 })
}

// CopyFile copies the file at src to dst (io.Copy's order), creating or truncating dst.
// A new dst gets src's permission bits minus the umask, without setuid, setgid and sticky
// (as cp); an existing dst keeps its mode. Offsets in opts count from the start of each file.
func CopyFile(dst, src string, opts Options) (Report, error) {
	return copyFile(nil, dst, src, opts)
}

// CopyFileContext is CopyFile, stopping (with an error wrapping both ErrCancelled and
// ctx.Err()) once ctx is done: between chunks, and within 100 ms in any wait, such as the open
// of a FIFO that waits for its other end.
func CopyFileContext(ctx context.Context, dst, src string, opts Options) (Report, error) {
	if err := ctx.Err(); err != nil {
		return Report{}, cancelledBy(err, 0)
	}
	return copyFile(ctx, dst, src, opts)
}

func copyFile(ctx context.Context, dst, src string, opts Options) (Report, error) {
	var total Report
	copts, err := cOptions(opts)
	if err != nil {
		return total, err
	}
	progress, handle := newProgress(ctx, opts.Progress)
	if handle != 0 {
		defer handle.Delete()
	}
	csrc, cdst := C.CString(src), C.CString(dst)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cdst))
	var report C.zc_report
	report.struct_size = C.size_t(unsafe.Sizeof(report))
	st, errno, msg := cCall(func() C.zc_status {
		return C.zc_status(C.zcgo_copy_file(csrc, cdst, &copts, &report, C.uintptr_t(handle)))
	})
	total.add(&report)
	if progress != nil && progress.panicked {
		panic(progress.panicVal)
	}
	if st != C.ZC_OK {
		e := newError(st, errno, msg, total)
		if st == C.ZC_CANCELLED && ctx != nil && ctx.Err() != nil {
			e.cause = ctx.Err()
		}
		return total, e
	}
	return total, nil
}

// Support says whether one technique can serve a pair of descriptors, and if not why.
type Support struct {
	Strategy  Strategy
	Supported bool
	Reason    string
}

// Probe tells which techniques can serve src -> dst (io.Copy's order of arguments), and for
// the others why not, without moving a byte: one entry per technique.
func Probe(dst, src interface{}) ([]Support, error) {
	srcConn, err := rawConn(src, "src")
	if err != nil {
		return nil, err
	}
	dstConn, err := rawConn(dst, "dst")
	if err != nil {
		return nil, err
	}
	var out []Support
	err = control(srcConn, "src", func(sfd uintptr) error {
		return control(dstConn, "dst", func(dfd uintptr) error {
			buf := make([]C.zc_support, 16)
			for {
				var n C.size_t
				if err := check(func() C.zc_status {
					return C.zc_status(C.zc_probe(C.int(sfd), C.int(dfd), &buf[0], C.size_t(len(buf)), &n))
				}); err != nil {
					return err
				}
				if int(n) > len(buf) {
					buf = make([]C.zc_support, int(n))
					continue
				}
				for _, s := range buf[:n] {
					out = append(out, Support{
						Strategy:  strategyName(s.strategy),
						Supported: bool(s.supported),
						Reason:    C.GoString(&s.reason[0]),
					})
				}
				return nil
			}
		})
	})
	return out, err
}
