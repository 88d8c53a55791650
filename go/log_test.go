package zcopy_test

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"zcopy.dev/zcopy"
)

func logRecord(i int) []byte { return data(int64(i)+1, i*37%2000) }

// decodeAll parses every frame of b, checking they are records from..from+n of logRecord.
func decodeAll(t *testing.T, b []byte, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		off, payload, size, err := zcopy.DecodeFrame(b)
		if err != nil || size == 0 {
			t.Fatalf("frame %d: size %d, %v", i, size, err)
		}
		if off != int64(i) {
			t.Fatalf("frame %d has offset %d", i, off)
		}
		same(t, "payload", payload, logRecord(i))
		b = b[size:]
	}
	if len(b) != 0 {
		t.Fatalf("%d bytes after the frames", len(b))
	}
}

func openLog(t *testing.T, dir string, opts zcopy.LogOptions) *zcopy.Log {
	t.Helper()
	l, err := zcopy.OpenLog(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendAll(t *testing.T, l *zcopy.Log, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		off, err := l.Append(logRecord(i))
		if err != nil || off != int64(i) {
			t.Fatalf("append %d: offset %d, %v", i, off, err)
		}
	}
}

// sendAll sends the whole log to w in calls of maxBytes, closes w, and returns what r got.
func sendAll(t *testing.T, l *zcopy.Log, w io.Closer, dst interface{}, r io.Reader, maxBytes int64) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	var from, total int64
	for from < l.NextOffset() {
		report, next, err := l.Send(dst, from, maxBytes)
		if err != nil {
			t.Fatalf("send from %d: %v", from, err)
		}
		if next <= from || report.Strategy != zcopy.Sendfile {
			t.Fatalf("send from %d: next %d, strategy %s", from, next, report.Strategy)
		}
		total += report.Bytes
		from = next
	}
	w.Close()
	b := <-got
	if int64(len(b)) != total {
		t.Fatalf("sent %d bytes, read %d", total, len(b))
	}
	return b
}

func TestLogSendToAPipeAndASocket(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, zcopy.LogOptions{SegmentBytes: 1 << 20, Flush: zcopy.FlushManual})
	appendAll(t, l, 0, 300)
	// os.Pipe and net.Conn are non-blocking: a full pipe is waited for, frames stay whole.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	decodeAll(t, sendAll(t, l, w, w, r, 0), 300)
	a, b := tcpPair(t)
	decodeAll(t, sendAll(t, l, a, a, b, 10000), 300)
}

func TestLogReopenFlushPoliciesAndRefusals(t *testing.T) {
	dir := t.TempDir()
	l, err := zcopy.OpenLog(dir, zcopy.LogOptions{SegmentBytes: 16 << 10, Flush: zcopy.FlushAsync, FlushInterval: 10e6})
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, l, 0, 100)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := zcopy.OpenLog(dir, zcopy.LogOptions{}); !errors.Is(err, syscall.EWOULDBLOCK) ||
		!strings.Contains(err.Error(), dir) {
		t.Errorf("a second writer: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Append([]byte("x")); !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), "closed") {
		t.Errorf("append after close: %v", err)
	}
	if l.NextOffset() != -1 {
		t.Errorf("NextOffset after close: %d", l.NextOffset())
	}
	l = openLog(t, dir, zcopy.LogOptions{SegmentBytes: 16 << 10, IndexIntervalBytes: zcopy.Int64(0)})
	if n := l.NextOffset(); n != 100 {
		t.Fatalf("reopened: next offset %d", n)
	}
	appendAll(t, l, 100, 120)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	decodeAll(t, sendAll(t, l, w, w, r, 0), 120)
	if _, err := l.Append(make([]byte, 16<<10)); !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("a record larger than a segment: %v", err)
	}
	if off, err := l.Append(nil); err != nil || off != 120 {
		t.Errorf("an empty record: %d, %v", off, err)
	}
	for _, c := range []struct {
		opts zcopy.LogOptions
		says string
	}{
		{zcopy.LogOptions{SegmentBytes: 100}, "segment_bytes 100"},
		{zcopy.LogOptions{Flush: "fast"}, `unknown flush policy "fast"`},
		{zcopy.LogOptions{Flush: zcopy.FlushAsync, FlushInterval: -1}, "manual"},
		{zcopy.LogOptions{SegmentBytes: -1}, "negative"},
	} {
		_, err := zcopy.OpenLog(t.TempDir(), c.opts)
		if !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v", c.opts, err)
		}
	}
}

func TestDecodeFrame(t *testing.T) {
	l := openLog(t, t.TempDir(), zcopy.LogOptions{})
	appendAll(t, l, 0, 3)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := sendAll(t, l, w, w, r, 0)
	if _, _, n, err := zcopy.DecodeFrame(b[:10]); n != 0 || err != nil {
		t.Errorf("a cut frame: %d, %v", n, err)
	}
	if _, _, n, err := zcopy.DecodeFrame(nil); n != 0 || err != nil {
		t.Errorf("nothing: %d, %v", n, err)
	}
	bad := append([]byte(nil), b...)
	bad[len(bad)-1] ^= 1
	_, _, n, err := zcopy.DecodeFrame(bad[len(b)-16-len(logRecord(2)):])
	if !errors.Is(err, syscall.EBADMSG) || !errors.Is(err, zcopy.ErrInvalid) || n != 0 {
		t.Errorf("a damaged frame: %d, %v", n, err)
	}
}
