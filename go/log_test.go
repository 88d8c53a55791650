package zcopy_test

// zcopy.Log from Go: appends, consumers through pipes and TCP (non-blocking, waited for by the
// poller, cut frames finished), reopening, a second writer refused, bad options, damaged frames.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
