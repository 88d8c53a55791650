package zcopy

/*
#include <poll.h>
#include <stdlib.h>
#include <zcopy.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// FlushPolicy says when a Log makes appended records durable.
type FlushPolicy string

// The flush policies.
const (
	// FlushSync msyncs each record before Append returns (Kafka's producer "sync"; the
	// default): an acknowledged record survives a crash of the process and a power loss.
	FlushSync FlushPolicy = "sync"
	// FlushAsync syncs in a background thread every FlushInterval and/or once FlushBytes are
	// pending; Flush and Close sync the rest.
	FlushAsync FlushPolicy = "async"
	// FlushManual syncs only on Flush, segment rolls and Close.
	FlushManual FlushPolicy = "manual"
)

// LogOptions says how to open a Log. The zero value is the default: 64 MiB segments,
// FlushSync, an index entry every 4096 bytes.
type LogOptions struct {
	// SegmentBytes is the size a segment file is preallocated to (4096 to 2^32-1; 0: 64 MiB).
	// A record plus 16 bytes must fit in one.
	SegmentBytes int64
	// Flush is the flush policy ("": FlushSync).
	Flush FlushPolicy
	// FlushBytes (FlushAsync): sync once this many bytes are pending; 0: no byte threshold.
	FlushBytes int64
	// FlushInterval (FlushAsync): sync at least this often; 0: 1 s; negative: no timer.
	FlushInterval time.Duration
	// IndexIntervalBytes is the bytes of log between offset index entries (nil: 4096;
	// Int64(0) indexes every record).
	IndexIntervalBytes *int64
}

// Log is an append-only log of records in a directory, Kafka-style (libzcopy's zc_log):
// records are appended through a memory-mapped, preallocated segment file and sent to
// consumers with sendfile. One writer per directory. Its methods may be called from several
// goroutines; they run one at a time.
type Log struct {
	mu  sync.Mutex
	c   *C.zc_log
	dir string
}

// OpenLog opens the log in dir (created when missing) for appending, recovering it after a
// crash of its last writer: every record acknowledged under FlushSync is there, a torn tail is
// dropped. A second writer on dir gets an error wrapping syscall.EWOULDBLOCK; a full disk one
// wrapping syscall.ENOSPC; bad options ErrInvalid.
func OpenLog(dir string, opts LogOptions) (*Log, error) {
	var o C.zc_log_options
	if err := check(func() C.zc_status {
		return C.zc_status(C.zc_log_options_default(&o, C.size_t(unsafe.Sizeof(o))))
	}); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"SegmentBytes", opts.SegmentBytes}, {"FlushBytes", opts.FlushBytes}} {
		if f.v < 0 {
			return nil, invalid(fmt.Sprintf("LogOptions.%s is %d, which is negative", f.name, f.v))
		}
	}
	if opts.SegmentBytes != 0 {
		o.segment_bytes = C.uint64_t(opts.SegmentBytes)
	}
	switch opts.Flush {
	case "", FlushSync:
		o.flush = C.ZC_LOG_FLUSH_SYNC
	case FlushAsync:
		o.flush = C.ZC_LOG_FLUSH_ASYNC
	case FlushManual:
		o.flush = C.ZC_LOG_FLUSH_MANUAL
	default:
		return nil, invalid(fmt.Sprintf("unknown flush policy %q; expected one of sync, async, manual", opts.Flush))
	}
	o.flush_bytes = C.uint64_t(opts.FlushBytes)
	switch {
	case opts.FlushInterval < 0:
		o.flush_interval_ms = 0
	case opts.FlushInterval > 0:
		ms := opts.FlushInterval.Milliseconds()
		if ms == 0 {
			ms = 1
		}
		o.flush_interval_ms = C.uint64_t(ms)
	}
	if opts.IndexIntervalBytes != nil {
		if *opts.IndexIntervalBytes < 0 {
			return nil, invalid(fmt.Sprintf("LogOptions.IndexIntervalBytes is %d, which is negative", *opts.IndexIntervalBytes))
		}
		o.index_interval_bytes = C.uint64_t(*opts.IndexIntervalBytes)
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var c *C.zc_log
	st, errno, msg := cCall(func() C.zc_status {
		c = C.zc_log_open(cdir, &o)
		if c == nil {
			return C.ZC_IO // the status is not returned; the last error says why
		}
		return C.ZC_OK
	})
	if c == nil {
		e := newError(st, errno, msg, Report{})
		if syscall.Errno(errno) == syscall.EINVAL {
			e.Kind = KindInvalid
		}
		return nil, e
	}
	l := &Log{c: c, dir: dir}
	// A Log dropped without Close is closed by the collector (its lock on dir released).
	runtime.SetFinalizer(l, func(l *Log) { _ = l.Close() })
	return l, nil
}

func (l *Log) closedErr() error {
	return invalid(fmt.Sprintf("the log in %s is closed", l.dir))
}

// Append appends record and returns its offset; under FlushSync it is durable on return. A
// record larger than a segment (its length + 16) is ErrInvalid; a full disk when the next
// segment is preallocated is an error wrapping syscall.ENOSPC (nothing is appended).
func (l *Log) Append(record []byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		return 0, l.closedErr()
	}
	var off C.uint64_t
	var p unsafe.Pointer
	if len(record) > 0 {
		p = unsafe.Pointer(&record[0])
	}
	err := check(func() C.zc_status {
		return C.zc_status(C.zc_log_append(l.c, p, C.size_t(len(record)), &off))
	})
	return int64(off), err
}

// Flush makes every record appended so far durable, whatever the policy.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		return l.closedErr()
	}
	return check(func() C.zc_status { return C.zc_status(C.zc_log_flush(l.c)) })
}

// NextOffset is the offset the next Append will get (the number of records); -1 once closed.
func (l *Log) NextOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		return -1
	}
	var n C.uint64_t
	if check(func() C.zc_status { return C.zc_status(C.zc_log_next_offset(l.c, &n)) }) != nil {
		return -1
	}
	return int64(n)
}

// Send moves whole records from offset from on to dst (an *os.File, a net.Conn, any
// syscall.Conn or an FD) with sendfile, as frames DecodeFrame parses: as many as fit in
// maxBytes (0 or negative: the rest of the segment), but at least one, within one segment.
// It returns the Report and the offset to send from next. A non-blocking dst (every net.Conn)
// that fills up is waited for through the runtime poller, and the rest of the frames follow,
// so dst always receives whole frames.
func (l *Log) Send(dst interface{}, from, maxBytes int64) (Report, int64, error) {
	var total Report
	if from < 0 {
		return total, 0, invalid(fmt.Sprintf("offset %d is negative", from))
	}
	max := C.uint64_t(maxBytes)
	if maxBytes <= 0 {
		max = C.uint64_t(^uint64(0))
	}
	conn, err := rawConn(dst, "dst")
	if err != nil {
		return total, 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		return total, 0, l.closedErr()
	}
	var skip C.uint64_t
	for {
		var report C.zc_report
		report.struct_size = C.size_t(unsafe.Sizeof(report))
		var next C.uint64_t
		var st C.zc_status
		var errno C.int
		var msg string
		ctlErr := control(conn, "dst", func(fd uintptr) error {
			st, errno, msg = cCall(func() C.zc_status {
				return C.zc_status(C.zc_log_send_rest(l.c, C.int(fd), C.uint64_t(from), skip, max, &next, &report))
			})
			return nil
		})
		if ctlErr != nil {
			return total, 0, ctlErr
		}
		total.add(&report)
		if st == C.ZC_OK {
			return total, int64(next), nil
		}
		e := newError(st, errno, msg, total)
		if st != C.ZC_IO || syscall.Errno(errno) != syscall.EAGAIN {
			return total, 0, e
		}
		skip += report.bytes
		if err := waitReady(conn, true); err != nil {
			e.cause = err
			e.Message += " (waiting for it: " + err.Error() + ")"
			return total, 0, e
		}
	}
}

// Close syncs everything, stops the background flush thread, truncates the active segment
// to its used length and releases the directory. Calling it again does nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c == nil {
		return nil
	}
	c := l.c
	l.c = nil
	return check(func() C.zc_status { return C.zc_status(C.zc_log_close(c)) })
}

// DecodeFrame parses the first frame of b (what Send wrote, as a consumer received it),
// checking its CRC-32C: the record's offset, its payload (a slice of b) and the frame's length
// (the next frame starts there). n is 0 when b does not hold a whole frame yet. A damaged frame
// is an error wrapping ErrInvalid and syscall.EBADMSG.
func DecodeFrame(b []byte) (offset int64, payload []byte, n int, err error) {
	var off C.uint64_t
	var plen, flen C.size_t
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	if err := check(func() C.zc_status {
		return C.zc_status(C.zc_log_frame(p, C.size_t(len(b)), &off, &plen, &flen))
	}); err != nil {
		return 0, nil, 0, err
	}
	if flen == 0 {
		return 0, nil, 0, nil
	}
	return int64(off), b[C.ZC_LOG_FRAME_HEADER : C.ZC_LOG_FRAME_HEADER+int(plen)], int(flen), nil
}
