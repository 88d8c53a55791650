package zcopy_test

// zcopy.Log from Go: appends, consumers through pipes and TCP (non-blocking, waited for by the
// poller, cut frames finished), reopening, a second writer refused, bad options, damaged frames.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"zcopy.dev/zcopy"
)

func records(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = data(int64(100+i), size+i%7)
	}
	return out
}

func TestLogAppendSendDecode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	l, err := zcopy.OpenLog(dir, zcopy.LogOptions{SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs := records(200, 1000) // ~200 KiB over several 64 KiB segments
	for i, r := range recs {
		off, err := l.Append(r)
		if err != nil || off != uint64(i) {
			t.Fatalf("append %d: offset %d, %v", i, off, err)
		}
	}
	if next, err := l.NextOffset(); err != nil || next != 200 {
		t.Fatalf("NextOffset %d, %v", next, err)
	}
	// A consumer through a pipe (os.Pipe's ends are non-blocking: the poller waits).
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); got <- b }()
	from := uint64(0)
	for from < 200 {
		_, next, err := l.Send(w, from, 16<<10)
		if err != nil {
			t.Fatalf("send from %d: %v", from, err)
		}
		if next <= from {
			t.Fatalf("send from %d made no progress", from)
		}
		from = next
	}
	w.Close()
	stream := <-got
	dec, used, err := zcopy.DecodeFrames(stream)
	if err != nil || used != len(stream) || len(dec) != 200 {
		t.Fatalf("decoded %d records from %d of %d bytes: %v", len(dec), used, len(stream), err)
	}
	for i, d := range dec {
		if d.Offset != uint64(i) || !bytes.Equal(d.Payload, recs[i]) {
			t.Fatalf("record %d: offset %d, %d bytes", i, d.Offset, len(d.Payload))
		}
	}
	// A frame cut short is left for later; a damaged one is EBADMSG.
	part, used, err := zcopy.DecodeFrames(stream[:len(stream)-3])
	if err != nil || len(part) != 199 || used >= len(stream)-3 {
		t.Fatalf("a cut stream: %d records, %d used, %v", len(part), used, err)
	}
	bad := append([]byte(nil), stream...)
	bad[zcopy.LogFrameHeader+1] ^= 0xff
	if _, _, err := zcopy.DecodeFrames(bad); !errors.Is(err, syscall.EBADMSG) {
		t.Fatalf("a damaged frame: %v", err)
	}
}

func TestLogSendToASlowTCPConsumerGetsWholeFrames(t *testing.T) {
	l, err := zcopy.OpenLog(t.TempDir(), zcopy.LogOptions{Flush: zcopy.FlushManual})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs := records(8, 1<<20) // 8 MiB: far more than the socket buffers hold
	for _, r := range recs {
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	a, b := tcpPair(t)
	got := make(chan []byte)
	go func() { v, _ := io.ReadAll(b); got <- v }()
	rep, next, err := l.Send(a, 0, 64<<20)
	if err != nil || next != 8 {
		t.Fatalf("send: next %d, %v", next, err)
	}
	a.Close()
	stream := <-got
	if int64(len(stream)) != rep.Bytes {
		t.Fatalf("the consumer got %d bytes, the Report says %d", len(stream), rep.Bytes)
	}
	dec, used, err := zcopy.DecodeFrames(stream)
	if err != nil || used != len(stream) || len(dec) != 8 {
		t.Fatalf("decoded %d records, %d of %d bytes: %v", len(dec), used, len(stream), err)
	}
	for i := range dec {
		if !bytes.Equal(dec[i].Payload, recs[i]) {
			t.Fatalf("record %d differs", i)
		}
	}
}

func TestLogReopenAndErrors(t *testing.T) {
	dir := t.TempDir()
	l, err := zcopy.OpenLog(dir, zcopy.LogOptions{Flush: zcopy.FlushAsync})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := l.Append([]byte(fmt.Sprintf("record %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// A second writer is refused, naming the directory.
	if _, err := zcopy.OpenLog(dir, zcopy.LogOptions{}); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a second writer: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if _, err := l.Append([]byte("x")); !errors.Is(err, zcopy.ErrInvalid) {
		t.Fatalf("append after close: %v", err)
	}
	l, err = zcopy.OpenLog(dir, zcopy.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if next, _ := l.NextOffset(); next != 10 {
		t.Fatalf("reopened: next offset %d", next)
	}
	if off, err := l.Append([]byte("eleventh")); err != nil || off != 10 {
		t.Fatalf("append after reopen: %d, %v", off, err)
	}
	if _, _, err := l.Send(createFile(t, "out"), 99, 1<<20); !errors.Is(err, zcopy.ErrInvalid) {
		t.Fatalf("send past the end: %v", err)
	}
	if _, err := zcopy.OpenLog(t.TempDir(), zcopy.LogOptions{Flush: "often"}); !errors.Is(err, zcopy.ErrInvalid) {
		t.Fatalf("a bad flush policy: %v", err)
	}
	if _, err := zcopy.OpenLog(t.TempDir(), zcopy.LogOptions{SegmentBytes: 100}); !errors.Is(err, zcopy.ErrInvalid) ||
		!strings.Contains(err.Error(), "segment") {
		t.Fatalf("a tiny segment: %v", err)
	}
}

// segmentBases is where segments of segBytes bytes begin for recs: a record starts a new
// segment when its frame (16 bytes + payload) does not fit in what is left of the current one.
func segmentBases(recs [][]byte, segBytes int) []uint64 {
	bases := []uint64{0}
	used := 0
	for i, r := range recs {
		frame := zcopy.LogFrameHeader + len(r)
		if used+frame > segBytes {
			bases = append(bases, uint64(i))
			used = 0
		}
		used += frame
	}
	return bases
}

func TestLogReadSegmentsOptionsAndBackgroundFlushes(t *testing.T) {
	dir := t.TempDir()
	opts := zcopy.LogOptions{SegmentBytes: 64 << 10, Flush: zcopy.FlushManual, IndexIntervalBytes: 512}
	l, err := zcopy.OpenLog(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	recs := records(200, 1000)
	recs[7] = []byte{} // an empty record reads back empty
	for _, r := range recs {
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	// Read: all, a window, the tail, nothing at the end, an error past it.
	all, err := l.Read(0, -1)
	if err != nil || len(all) != len(recs) {
		t.Fatalf("Read(0, -1): %d records, %v", len(all), err)
	}
	for i := range recs {
		if !bytes.Equal(all[i], recs[i]) {
			t.Fatalf("record %d differs: %d bytes, want %d", i, len(all[i]), len(recs[i]))
		}
	}
	for _, c := range []struct{ from, max, want int }{{150, 10, 10}, {195, 100, 5}, {200, 5, 0}, {3, 0, 0}} {
		got, err := l.Read(uint64(c.from), c.max)
		if err != nil || len(got) != c.want {
			t.Fatalf("Read(%d, %d): %d records, %v; want %d", c.from, c.max, len(got), err, c.want)
		}
		for k, r := range got {
			if !bytes.Equal(r, recs[c.from+k]) {
				t.Fatalf("Read(%d, %d): record %d differs", c.from, c.max, c.from+k)
			}
		}
	}
	if _, err := l.Read(201, 1); !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), "past the end") {
		t.Fatalf("Read past the end: %v", err)
	}
	// Segments: exactly where each record that did not fit began one.
	segs, err := l.Segments()
	want := segmentBases(recs, 64<<10)
	if err != nil || fmt.Sprint(segs) != fmt.Sprint(want) {
		t.Fatalf("Segments: %v, %v; want %v", segs, err, want)
	}
	if len(want) < 3 {
		t.Fatalf("the test needs several segments, got %v", want)
	}
	// Options: what OpenLog was given, defaults filled in.
	got, err := l.Options()
	wantOpts := zcopy.LogOptions{SegmentBytes: 64 << 10, Flush: zcopy.FlushManual, FlushInterval: time.Second,
		IndexIntervalBytes: 512}
	if err != nil || got != wantOpts {
		t.Fatalf("Options: %+v, %v; want %+v", got, err, wantOpts)
	}
	if n, err := l.BackgroundFlushes(); err != nil || n != 0 {
		t.Fatalf("BackgroundFlushes under manual: %d, %v", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// After Close every call is refused.
	if _, err := l.Read(0, 1); !errors.Is(err, zcopy.ErrInvalid) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := l.Segments(); !errors.Is(err, zcopy.ErrInvalid) {
		t.Fatalf("Segments after Close: %v", err)
	}
	if _, err := l.Options(); !errors.Is(err, zcopy.ErrInvalid) {
		t.Fatalf("Options after Close: %v", err)
	}
	if _, err := l.BackgroundFlushes(); !errors.Is(err, zcopy.ErrInvalid) {
		t.Fatalf("BackgroundFlushes after Close: %v", err)
	}

	// A record larger than Read's first buffer (64 KiB), an async log without a timer, and
	// its background flushes.
	dir = t.TempDir()
	opts = zcopy.LogOptions{SegmentBytes: 1 << 20, Flush: zcopy.FlushAsync, FlushBytes: 4096, FlushInterval: -1,
		IndexEveryRecord: true}
	l, err = zcopy.OpenLog(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, err = l.Options()
	if err != nil || got != opts {
		t.Fatalf("Options: %+v, %v; want %+v", got, err, opts)
	}
	big := data(7, 200<<10)
	for i := 0; i < 3; i++ {
		if _, err := l.Append(big); err != nil {
			t.Fatal(err)
		}
	}
	back, err := l.Read(1, 2)
	if err != nil || len(back) != 2 || !bytes.Equal(back[0], big) || !bytes.Equal(back[1], big) {
		t.Fatalf("Read of 200 KiB records: %d records, %v", len(back), err)
	}
	// 600 KiB appended past a 4 KiB threshold: the thread wakes and syncs (waited for, 10 s at
	// most).
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := l.BackgroundFlushes()
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no background flush within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SendPrepared: Send's frames through a transfer prepared once to the consumer (PrepareTo to a
// non-blocking pipe, Prepare to TCP whose source is left alone), byte-exact across sends and
// segment rolls; a one-record send with the meter off makes 3 syscalls with SIGPIPE ignored
// when prepared, 5 under Go's own SIGPIPE handler; a skip finishes what a consumer lacks;
// closed and nil handles are errors, not crashes.
func TestLogSendPrepared(t *testing.T) {
	l, err := zcopy.OpenLog(t.TempDir(), zcopy.LogOptions{SegmentBytes: 64 << 10, Flush: zcopy.FlushManual})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs := records(200, 1000) // ~200 KiB over several 64 KiB segments
	for _, r := range recs {
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	// frames is what the consumer must get for records from..to (Read's copies, framed).
	frames := func(from, to uint64) int64 {
		n := int64(0)
		for i := from; i < to; i++ {
			n += int64(zcopy.LogFrameHeader + len(recs[i]))
		}
		return n
	}
	decoded := func(what string, stream []byte, want []uint64) {
		t.Helper()
		dec, used, err := zcopy.DecodeFrames(stream)
		if err != nil || used != len(stream) || len(dec) != len(want) {
			t.Fatalf("%s: decoded %d records from %d of %d bytes, want %d: %v", what, len(dec), used,
				len(stream), len(want), err)
		}
		for i, d := range dec {
			if d.Offset != want[i] || !bytes.Equal(d.Payload, recs[want[i]]) {
				t.Fatalf("%s: record %d: offset %d, %d bytes, want record %d", what, i, d.Offset,
					len(d.Payload), want[i])
			}
		}
	}
	upTo := func(n uint64, more ...uint64) []uint64 {
		var out []uint64
		for i := uint64(0); i < n; i++ {
			out = append(out, i)
		}
		return append(out, more...)
	}
	sendfile := zcopy.Options{Strategy: zcopy.Sendfile}

	// To a pipe (os.Pipe's ends are non-blocking: a full pipe is waited for by the poller).
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		time.Sleep(20 * time.Millisecond) // the pipe fills first: sends wait for the reader
		b, _ := io.ReadAll(r)
		got <- b
	}()
	p, err := zcopy.PrepareTo(w, sendfile)
	if err != nil {
		t.Fatal(err)
	}
	from, sends, total := uint64(0), 0, int64(0)
	for from < 200 {
		rep, next, err := l.SendPrepared(p, from, 0, 10000)
		if err != nil {
			t.Fatalf("send from %d: %v", from, err)
		}
		if next <= from || rep.Bytes != frames(from, next) || rep.Strategy != zcopy.Sendfile {
			t.Fatalf("send from %d: next %d, %d bytes by %s, want %d", from, next, rep.Bytes, rep.Strategy,
				frames(from, next))
		}
		from, sends, total = next, sends+1, total+rep.Bytes
	}
	if sends <= 10 {
		t.Errorf("%d sends", sends)
	}
	// The meter off, one record, SIGPIPE under Go's handler: the segment's statx and fcntl,
	// sendfile and two pthread_sigmask.
	if err := p.SetCPUMeter(false); err != nil {
		t.Fatal(err)
	}
	small, next, err := l.SendPrepared(p, 5, 0, 1)
	if err != nil || next != 6 || small.Syscalls != 5 || small.Bytes != frames(5, 6) {
		t.Fatalf("one record: next %d, %+v, %v", next, small, err)
	}
	// A consumer that has 10 bytes of record 7's frame gets the rest.
	rest, next, err := l.SendPrepared(p, 7, 10, 1)
	if err != nil || next != 8 || rest.Bytes != frames(7, 8)-10 {
		t.Fatalf("the rest of record 7: next %d, %+v, %v", next, rest, err)
	}
	p.Close()
	w.Close()
	stream := <-got
	if int64(len(stream)) != total+small.Bytes+rest.Bytes {
		t.Fatalf("the pipe got %d bytes, the Reports say %d", len(stream), total+small.Bytes+rest.Bytes)
	}
	cut := stream[len(stream)-int(rest.Bytes):]
	stream = stream[:len(stream)-int(rest.Bytes)]
	decoded("the pipe", stream, upTo(200, 5))
	whole := createFile(t, "record7")
	if _, _, err := l.Send(whole, 7, 1); err != nil {
		t.Fatal(err)
	}
	frame7, err := os.ReadFile(whole.Name())
	if err != nil {
		t.Fatal(err)
	}
	decoded("record 7 by Send", frame7, []uint64{7})
	same(t, "the rest of record 7's frame", cut, frame7[10:])

	// To TCP through Prepare (a file source, left alone), prepared with SIGPIPE ignored: the
	// sends block no signal.
	src := tempFile(t, "src", data(9, 4096))
	a, b := tcpPair(t)
	go func() { v, _ := io.ReadAll(b); got <- v }()
	signal.Ignore(syscall.SIGPIPE)
	p, err = zcopy.Prepare(a, src, sendfile)
	signal.Reset(syscall.SIGPIPE)
	if err != nil {
		t.Fatal(err)
	}
	total = 0
	for from = 0; from < 200; {
		rep, next, err := l.SendPrepared(p, from, 0, 1<<20)
		if err != nil {
			t.Fatalf("tcp: send from %d: %v", from, err)
		}
		from, total = next, total+rep.Bytes
	}
	if err := p.SetCPUMeter(false); err != nil {
		t.Fatal(err)
	}
	small, next, err = l.SendPrepared(p, 7, 0, 1)
	if err != nil || next != 8 || small.Syscalls != 3 {
		t.Fatalf("one record to TCP, SIGPIPE ignored: next %d, %+v, %v", next, small, err)
	}
	plain, _, err := l.Send(a, 7, 1)
	if err != nil || plain.Syscalls < small.Syscalls+6 {
		t.Fatalf("Send: %+v, %v", plain, err)
	}
	if pos, err := src.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		t.Errorf("the prepared source moved to %d (%v)", pos, err)
	}
	var zerr *zcopy.Error
	if _, _, err := l.SendPrepared(p, 0, 1<<20, 100); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid ||
		!strings.Contains(zerr.Message, "skip 1048576 is past the end") {
		t.Errorf("a skip past the frames: %v", err)
	}
	p.Close() // its duplicate of a's descriptor too: the consumer sees the end
	a.Close()
	stream = <-got
	if int64(len(stream)) != total+small.Bytes+plain.Bytes || total != frames(0, 200) {
		t.Fatalf("TCP got %d bytes, the Reports say %d", len(stream), total+small.Bytes+plain.Bytes)
	}
	decoded("TCP", stream, upTo(200, 7, 7))

	// Closed or nil handles: errors of KindInvalid, nothing sent.
	if rep, next, err := l.SendPrepared(p, 0, 0, 1); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid ||
		!strings.Contains(zerr.Message, "closed Prepared") || rep.Bytes != 0 || next != 0 {
		t.Errorf("a closed Prepared: %+v, %d, %v", rep, next, err)
	}
	if _, _, err := l.SendPrepared(nil, 0, 0, 1); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid {
		t.Errorf("a nil Prepared: %v", err)
	}
	f := createFile(t, "out")
	p, err = zcopy.PrepareTo(f, sendfile)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l.Close()
	if _, _, err := l.SendPrepared(p, 0, 0, 1); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid ||
		!strings.Contains(zerr.Message, "closed") {
		t.Errorf("a closed Log: %v", err)
	}
}
