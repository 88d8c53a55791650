package zcopy_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"zcopy.dev/zcopy"
)

// stopBound is how long a stop may take to end a call (a tick is 100 ms; the rest is slack for
// a busy machine).
const stopBound = 1500 * time.Millisecond

// checkStopped checks err is a cancellation that wraps ctx's error, with BytesMoved equal to
// the report's, and that it came within stopBound of the cancel at `asked`.
func checkStopped(t *testing.T, what string, err error, r zcopy.Report, asked, ended time.Time) {
	t.Helper()
	var zerr *zcopy.Error
	if !errors.Is(err, zcopy.ErrCancelled) || !errors.Is(err, syscall.ECANCELED) ||
		!errors.Is(err, context.Canceled) || !errors.As(err, &zerr) {
		t.Fatalf("%s: want a cancellation, got %v", what, err)
	}
	if zerr.BytesMoved != r.Bytes {
		t.Errorf("%s: BytesMoved %d, Report.Bytes %d", what, zerr.BytesMoved, r.Bytes)
	}
	if asked.IsZero() {
		t.Fatalf("%s: the call ended before the cancel", what)
	}
	if took := ended.Sub(asked); took > stopBound {
		t.Errorf("%s: the cancel was seen after %v", what, took)
	}
}

// cancelLater cancels a context 400 ms from now and records when.
func cancelLater() (context.Context, func() time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	asked := make(chan time.Time, 1)
	timer := time.AfterFunc(400*time.Millisecond, func() {
		asked <- time.Now()
		cancel()
	})
	return ctx, func() time.Time {
		timer.Stop()
		cancel()
		select {
		case at := <-asked:
			return at
		default:
			return time.Time{}
		}
	}
}

// File -> a socket whose peer does not read (Unix and TCP, a net.Conn the Go poller waits for):
// cancelling the context ends the transfer within the bound, and the peer then reads exactly
// Report.Bytes, the source's first bytes.
func TestStalledSocketStoppedByCancel(t *testing.T) {
	want := data(4, 32*mib)
	srcFile := tempFile(t, "stall.src", want)
	for _, network := range []string{"unix", "tcp"} {
		for _, s := range []zcopy.Strategy{zcopy.ReadWrite, zcopy.Sendfile, zcopy.Splice} {
			what := network + " with " + string(s)
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "sock")
			}
			l, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.Dial(network, l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			peer, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			if _, err := srcFile.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			// A watchdog: a peer that reads after 5 s frees a call that missed the cancel.
			watchdog := time.AfterFunc(5*time.Second, func() { peer.Close() })
			ctx, done := cancelLater()
			r, err := zcopy.TransferContext(ctx, conn, srcFile, zcopy.Options{Strategy: s, NoFallback: true})
			ended := time.Now()
			asked := done()
			watchdog.Stop()
			checkStopped(t, what, err, r, asked, ended)
			if r.Bytes <= 0 {
				t.Errorf("%s: nothing moved before the stall", what)
			}
			if pos, _ := srcFile.Seek(0, io.SeekCurrent); pos != r.Bytes {
				t.Errorf("%s: src position %d, Report.Bytes %d", what, pos, r.Bytes)
			}
			conn.Close()
			got, err := io.ReadAll(peer)
			if err != nil {
				t.Fatalf("%s: read the peer: %v", what, err)
			}
			peer.Close()
			if int64(len(got)) != r.Bytes {
				t.Errorf("%s: the peer got %d bytes, Report.Bytes %d", what, len(got), r.Bytes)
			}
			n := len(got)
			if n > len(want) {
				n = len(want)
			}
			same(t, what, got, want[:n])
		}
	}
}

// An os.Pipe source (non-blocking: the Go poller waits for it) whose writer wrote 1000 bytes
// and went quiet: cancelling the context ends the wait within the bound, 1000 bytes moved.
func TestIdlePipeSourceStoppedByCancel(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := data(5, 1000)
	if _, err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(5*time.Second, func() { w.Close() })
	dst := createFile(t, "idle.dst")
	ctx, done := cancelLater()
	rep, err := zcopy.TransferContext(ctx, dst, r, zcopy.Options{})
	ended := time.Now()
	asked := done()
	watchdog.Stop()
	w.Close()
	checkStopped(t, "idle pipe", err, rep, asked, ended)
	if rep.Bytes != 1000 {
		t.Errorf("Report.Bytes %d, want 1000", rep.Bytes)
	}
	same(t, "idle pipe", contents(t, dst), first)
}

// A Progress function that says stop ends a transfer to a Unix socket whose peer does not read
// within the bound, with BytesMoved what the peer then reads.
func TestStalledSocketStoppedByProgress(t *testing.T) {
	want := data(6, 32*mib)
	src := tempFile(t, "stall2.src", want)
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "sock"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	watchdog := time.AfterFunc(5*time.Second, func() { peer.Close() })
	var askedAt time.Time
	stopAt := time.Now().Add(400 * time.Millisecond)
	rep, err := zcopy.Transfer(conn, src, zcopy.Options{Strategy: zcopy.Sendfile, NoFallback: true,
		Progress: func(int64) bool {
			if time.Now().Before(stopAt) {
				return true
			}
			if askedAt.IsZero() {
				askedAt = time.Now()
			}
			return false
		}})
	ended := time.Now()
	watchdog.Stop()
	var zerr *zcopy.Error
	if !errors.Is(err, zcopy.ErrCancelled) || !errors.As(err, &zerr) || zerr.BytesMoved != rep.Bytes {
		t.Fatalf("want a cancellation with BytesMoved = Report.Bytes, got %v (report %d)", err, rep.Bytes)
	}
	if took := ended.Sub(stopAt); took > stopBound {
		t.Errorf("the stop was seen %v after it was due", took)
	}
	conn.Close()
	got, err := io.ReadAll(peer)
	if err != nil {
		t.Fatal(err)
	}
	peer.Close()
	if int64(len(got)) != rep.Bytes || rep.Bytes == 0 {
		t.Fatalf("the peer got %d bytes, Report.Bytes %d", len(got), rep.Bytes)
	}
	same(t, "progress stop", got, want[:len(got)])
}

// A Unix socket source (a net.Conn) whose peer sent 1000 bytes and went quiet, and a full
// os.Pipe destination (nobody reads it): cancelling the context ends each wait within the
// bound, with the exact count.
func TestIdleSocketAndFullPipeStoppedByCancel(t *testing.T) {
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "sock"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	defer conn.Close()
	first := data(7, 1000)
	if _, err := peer.Write(first); err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(5*time.Second, func() { peer.Close() })
	dst := createFile(t, "idle-socket.dst")
	ctx, done := cancelLater()
	rep, err := zcopy.TransferContext(ctx, dst, conn, zcopy.Options{})
	ended := time.Now()
	asked := done()
	watchdog.Stop()
	peer.Close()
	checkStopped(t, "idle socket", err, rep, asked, ended)
	if rep.Bytes != 1000 {
		t.Errorf("idle socket: Report.Bytes %d, want 1000", rep.Bytes)
	}
	same(t, "idle socket", contents(t, dst), first)

	want := data(8, 4*mib)
	src := tempFile(t, "full.src", want)
	for _, s := range []zcopy.Strategy{zcopy.ReadWrite, zcopy.Sendfile, zcopy.Splice} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		watchdog := time.AfterFunc(5*time.Second, func() { r.Close() })
		ctx, done := cancelLater()
		rep, err := zcopy.TransferContext(ctx, w, src, zcopy.Options{Strategy: s, NoFallback: true})
		ended := time.Now()
		asked := done()
		watchdog.Stop()
		what := "full pipe with " + string(s)
		checkStopped(t, what, err, rep, asked, ended)
		w.Close()
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if int64(len(got)) != rep.Bytes || rep.Bytes == 0 {
			t.Errorf("%s: the reader got %d bytes, Report.Bytes %d", what, len(got), rep.Bytes)
		}
		if pos, _ := src.Seek(0, io.SeekCurrent); pos != rep.Bytes {
			t.Errorf("%s: src position %d, Report.Bytes %d", what, pos, rep.Bytes)
		}
		same(t, what, got, want[:len(got)])
	}
}
