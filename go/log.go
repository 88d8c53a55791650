package zcopy

/*
#include <stdlib.h>
#include "zcopy.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// FlushPolicy is when a Log makes appended records durable.
type FlushPolicy string

// The flush policies (Kafka's producer modes).
const (
	// FlushSync msyncs a record before Append returns: an acknowledged record survives a crash
	// and a power loss. The default.
	FlushSync FlushPolicy = "sync"
	// FlushAsync syncs in the background, every FlushInterval or once FlushBytes are pending.
	FlushAsync FlushPolicy = "async"
	// FlushManual syncs only on Flush, segment rolls and Close (and the kernel's writeback).
	FlushManual FlushPolicy = "manual"
)

// LogOptions are how OpenLog opens a log; the zero value is the defaults.
type LogOptions struct {
	// SegmentBytes is the size a segment file is preallocated to; 0 means 64 MiB.
	SegmentBytes uint64
	// Flush is the flush policy; "" is FlushSync.
	Flush FlushPolicy
	// FlushBytes (FlushAsync): sync once this many bytes are pending; 0: no byte threshold.
	FlushBytes uint64
	// FlushInterval (FlushAsync): sync at least this often; 0 means 1 s, a negative value no
	// timer.
	FlushInterval time.Duration
	// IndexIntervalBytes is the bytes of log between offset index entries; 0 means 4096
	// (Kafka's).
	IndexIntervalBytes uint64
	// IndexEveryRecord puts every record in the index (index_interval_bytes 0 in C).
	IndexEveryRecord bool
}

// Log is an append-only log of records in a directory, Kafka-style: records are appended
// through mmap'd, preallocated segment files and served to consumers with sendfile; reopening
// after a crash recovers every record acknowledged under FlushSync. One writer per directory.
// Its methods may be called from several goroutines (they take turns).
type Log struct {
	mu  sync.Mutex
	p   *C.zc_log
	dir string
}

// Record is one record as a consumer decodes it: its offset and payload.
type Record struct {
	Offset  uint64
	Payload []byte
}

// LogFrameHeader is the bytes of a frame's header before its payload (see DecodeFrames).
const LogFrameHeader = C.ZC_LOG_FRAME_HEADER

// OpenLog opens (creating it if needed) the log in dir, recovering its last segment.
func OpenLog(dir string, opts LogOptions) (*Log, error) {
	var o C.zc_log_options
	if err := check(func() C.zc_status { return C.zc_status(C.zc_log_options_default(&o, C.size_t(unsafe.Sizeof(o)))) }); err != nil {
		return nil, err
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
		return nil, invalid(fmt.Sprintf("unknown flush policy %q; expected one of sync, async, manual", string(opts.Flush)))
	}
	o.flush_bytes = C.uint64_t(opts.FlushBytes)
	switch {
	case opts.FlushInterval > 0:
		ms := opts.FlushInterval.Milliseconds()
		if ms == 0 {
			ms = 1
		}
		o.flush_interval_ms = C.uint64_t(ms)
	case opts.FlushInterval < 0:
		o.flush_interval_ms = 0
	}
	if opts.IndexEveryRecord {
		o.index_interval_bytes = 0
	} else if opts.IndexIntervalBytes != 0 {
		o.index_interval_bytes = C.uint64_t(opts.IndexIntervalBytes)
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var p *C.zc_log
	if err := check(func() C.zc_status { return C.zc_status(C.zc_log_open(cdir, &o, &p)) }); err != nil {
		return nil, err
	}
	l := &Log{p: p, dir: dir}
	runtime.SetFinalizer(l, func(l *Log) { l.Close() })
	return l, nil
}

func (l *Log) handle() (*C.zc_log, error) {
	if l == nil || l.p == nil {
		return nil, invalid("the log is closed")
	}
	return l.p, nil
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Append adds record and returns its offset (durable on return under FlushSync).
func (l *Log) Append(record []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.handle()
	if err != nil {
		return 0, err
	}
	var off C.uint64_t
	var data unsafe.Pointer
	if len(record) > 0 {
		data = unsafe.Pointer(&record[0])
	}
	err = check(func() C.zc_status { return C.zc_status(C.zc_log_append(p, data, C.size_t(len(record)), &off)) })
	runtime.KeepAlive(record)
	return uint64(off), err
}

// Flush makes every record appended so far durable.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.handle()
	if err != nil {
		return err
	}
	return check(func() C.zc_status { return C.zc_status(C.zc_log_flush(p)) })
}

// NextOffset is the offset the next Append will get.
func (l *Log) NextOffset() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.handle()
	if err != nil {
		return 0, err
	}
	var out C.uint64_t
	err = check(func() C.zc_status { return C.zc_status(C.zc_log_next_offset(p, &out)) })
	return uint64(out), err
}

// Send moves whole records from offset from to dst with sendfile, as frames DecodeFrames
// parses: as many as fit in maxBytes, but at least one, within one segment. It returns the
// Report and the offset to send from next. dst is an *os.File, a net.Conn, a syscall.Conn or
// an FD; a non-blocking one (every net.Conn, os.Pipe's ends) is waited for through the Go
// poller, and a frame cut by a full socket is finished, so dst always receives whole frames.
// The log is held while Send waits for dst: an Append in another goroutine waits for it.
func (l *Log) Send(dst interface{}, from, maxBytes uint64) (Report, uint64, error) {
	var total Report
	dstConn, err := rawConn(dst, "dst")
	if err != nil {
		return total, from, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.handle()
	if err != nil {
		return total, from, err
	}
	next := from
	for {
		var report C.zc_report
		report.struct_size = C.size_t(unsafe.Sizeof(report))
		var st C.zc_status
		var errno C.int
		var msg string
		var n C.uint64_t
		ctlErr := control(dstConn, "dst", func(fd uintptr) error {
			st, errno, msg = cCall(func() C.zc_status {
				if total.Bytes == 0 {
					return C.zc_status(C.zc_log_send(p, C.int(fd), C.uint64_t(from), C.uint64_t(maxBytes), &n, &report))
				}
				return C.zc_status(C.zc_log_send_rest(p, C.int(fd), C.uint64_t(from), C.uint64_t(total.Bytes),
					C.uint64_t(maxBytes), &n, &report))
			})
			return nil
		})
		if ctlErr != nil {
			return total, from, ctlErr
		}
		total.add(&report)
		if st == C.ZC_OK {
			next = uint64(n)
			return total, next, nil
		}
		e := newError(st, errno, msg, total)
		if syscall.Errno(errno) != syscall.EAGAIN {
			return total, from, e
		}
		if err := waitReady(dstConn, true); err != nil {
			e.cause = err
			e.Message += " (waiting for it: " + err.Error() + ")"
			return total, from, e
		}
	}
}

// SendPrepared sends what Send sends from offset from, through p, a transfer prepared once to
// the consumer's connection (PrepareTo; a Prepared from Prepare works too: only its destination
// is used), for a consumer that sends many times to one socket or pipe: each send then
// classifies only the segment (a statx and an fcntl), not the destination. With
// p.SetCPUMeter(false), a small send makes 3 syscalls where SIGPIPE was ignored when p was
// prepared (signal.Ignore(syscall.SIGPIPE)), 5 otherwise (two pthread_sigmask around the
// write: Go's runtime handles SIGPIPE, it does not ignore it), where Send makes 12 to a
// socket. The options are p's (Send's technique is sendfile: prepare with
// Options{Strategy: Sendfile} for the same); the destination is written at its position.
// skip is the bytes of these frames the consumer already has (0; or an earlier SendPrepared's
// BytesMoved, after an error while waiting for the destination, such as a deadline): the rest
// is sent. A non-blocking destination is waited for through the Go poller, so the frames
// arrive whole. It returns the Report of this call and the offset to send from next. skip past
// the frames, a closed Log or a closed Prepared is an error of KindInvalid. The log and p are
// held while it waits for the destination.
func (l *Log) SendPrepared(p *Prepared, from, skip, maxBytes uint64) (Report, uint64, error) {
	var total Report
	if p == nil {
		return total, from, invalid("zcopy: SendPrepared with a nil Prepared")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lp, err := l.handle()
	if err != nil {
		return total, from, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p == nil {
		return total, from, invalid("zcopy: SendPrepared on a closed Prepared")
	}
	if p.progress != nil {
		p.progress.base = 0
	}
	for {
		var report C.zc_report
		report.struct_size = C.size_t(unsafe.Sizeof(report))
		var n C.uint64_t
		st, errno, msg := cCall(func() C.zc_status {
			return C.zc_status(C.zc_log_send_prepared(lp, p.p, C.uint64_t(from), C.uint64_t(skip+uint64(total.Bytes)),
				C.uint64_t(maxBytes), &n, &report))
		})
		p.add(&total, &report)
		if st == C.ZC_OK {
			return total, uint64(n), nil
		}
		e := newError(st, errno, msg, total)
		if syscall.Errno(errno) != syscall.EAGAIN || st != C.ZC_IO {
			return total, from, e
		}
		if err := waitReady(p.dstConn, true); err != nil {
			e.cause = err
			e.Message += " (waiting for it: " + err.Error() + ")"
			return total, from, e
		}
	}
}

// Read returns up to maxRecords records (a negative maxRecords: all) from offset from on,
// fewer at the end of the log, each checked against its CRC-32C. They are copies: for moving
// many records to a consumer, Send is the zero-copy way. from past the end is an error of
// KindInvalid; a damaged record one of KindIO wrapping EBADMSG.
func (l *Log) Read(from uint64, maxRecords int) ([][]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.handle()
	if err != nil {
		return nil, err
	}
	out := [][]byte{}
	buf := make([]byte, 64<<10)
	for first := true; first || maxRecords < 0 || len(out) < maxRecords; first = false {
		want := 1024
		if maxRecords >= 0 && maxRecords-len(out) < want {
			want = maxRecords - len(out)
		}
		lens := make([]C.size_t, want+1)
		var count C.size_t
		err := check(func() C.zc_status {
			return C.zc_status(C.zc_log_read(p, C.uint64_t(from), C.size_t(want), unsafe.Pointer(&buf[0]),
				C.size_t(len(buf)), &lens[0], &count))
		})
		if errors.Is(err, syscall.ENOBUFS) && count == 0 && want > 0 {
			// The next record is larger than buf: lens[0] is its length.
			buf = make([]byte, int(lens[0]))
			continue
		}
		if err != nil {
			return out, err
		}
		if count == 0 {
			break
		}
		at := 0
		for _, n := range lens[:count] {
			out = append(out, append([]byte{}, buf[at:at+int(n)]...))
			at += int(n)
		}
		from += uint64(count)
	}
	return out, nil
}

// Segments is the base offsets of the log's segment files, oldest first (the last one is
// being appended to).
func (l *Log) Segments() ([]uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.handle()
	if err != nil {
		return nil, err
	}
	var count C.size_t
	if err := check(func() C.zc_status { return C.zc_status(C.zc_log_segments(p, nil, 0, &count)) }); err != nil {
		return nil, err
	}
	bases := make([]C.uint64_t, count+1)
	if err := check(func() C.zc_status {
		return C.zc_status(C.zc_log_segments(p, &bases[0], C.size_t(len(bases)), &count))
	}); err != nil {
		return nil, err
	}
	out := make([]uint64, count)
	for i := range out {
		out[i] = uint64(bases[i])
	}
	return out, nil
}

// Options is what the log was opened with, the defaults filled in: OpenLog(l.Dir(), opts)
// opens a log alike. Under FlushSync and FlushManual, FlushBytes is 0 and FlushInterval 1 s;
// an async log without a timer has a negative FlushInterval; IndexEveryRecord is set when
// every record is indexed.
func (l *Log) Options() (LogOptions, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.handle()
	if err != nil {
		return LogOptions{}, err
	}
	var o C.zc_log_options
	o.struct_size = C.size_t(unsafe.Sizeof(o))
	if err := check(func() C.zc_status { return C.zc_status(C.zc_log_get_options(p, &o)) }); err != nil {
		return LogOptions{}, err
	}
	opts := LogOptions{
		SegmentBytes:       uint64(o.segment_bytes),
		FlushBytes:         uint64(o.flush_bytes),
		FlushInterval:      time.Duration(o.flush_interval_ms) * time.Millisecond,
		IndexIntervalBytes: uint64(o.index_interval_bytes),
		IndexEveryRecord:   o.index_interval_bytes == 0,
	}
	switch o.flush {
	case C.ZC_LOG_FLUSH_ASYNC:
		opts.Flush = FlushAsync
		if o.flush_interval_ms == 0 {
			opts.FlushInterval = -1
		}
	case C.ZC_LOG_FLUSH_MANUAL:
		opts.Flush = FlushManual
	default:
		opts.Flush = FlushSync
	}
	return opts, nil
}

// BackgroundFlushes is how many times the background thread of FlushAsync has synced
// something since OpenLog (0 under the other policies).
func (l *Log) BackgroundFlushes() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := l.handle()
	if err != nil {
		return 0, err
	}
	var out C.uint64_t
	err = check(func() C.zc_status { return C.zc_status(C.zc_log_background_flushes(p, &out)) })
	return uint64(out), err
}

// Close syncs everything, stops the background flush, truncates the active segment and
// releases the directory. Calling it again does nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p == nil {
		return nil
	}
	p := l.p
	l.p = nil
	runtime.SetFinalizer(l, nil)
	return check(func() C.zc_status { return C.zc_status(C.zc_log_close(p)) })
}

// DecodeFrames parses the frames at the start of b (what Send wrote, as a consumer received
// it), checking each one's CRC-32C. It returns the whole records and how many bytes of b
// they took; a frame cut short at the end is left for the next read. A damaged frame is an
// error of KindInvalid wrapping EBADMSG.
func DecodeFrames(b []byte) ([]Record, int, error) {
	var recs []Record
	used := 0
	for used < len(b) {
		var off C.uint64_t
		var plen, flen C.size_t
		rest := b[used:]
		err := check(func() C.zc_status {
			return C.zc_status(C.zc_log_frame(unsafe.Pointer(&rest[0]), C.size_t(len(rest)), &off, &plen, &flen))
		})
		if err != nil {
			return recs, used, err
		}
		if flen == 0 {
			break
		}
		payload := make([]byte, int(plen))
		copy(payload, rest[LogFrameHeader:LogFrameHeader+int(plen)])
		recs = append(recs, Record{Offset: uint64(off), Payload: payload})
		used += int(flen)
	}
	runtime.KeepAlive(b)
	return recs, used, nil
}
