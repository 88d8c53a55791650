package zcopy_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"zcopy.dev/zcopy"
)

// A prepared transfer runs many times, each run byte-exact with its own Report; a slow reader
// makes the non-blocking socket wait through the poller; the descriptors are the prepared
// transfer's own duplicates, so closing the caller's does not stop it; Close is final.
func TestPreparedRunsAndWaits(t *testing.T) {
	body := data(21, 65536)
	src := tempFile(t, "src", body)
	a, b := tcpPair(t)
	got := make(chan []byte)
	go func() {
		time.Sleep(100 * time.Millisecond) // the runs fill the socket first, then wait
		all, _ := io.ReadAll(b)
		got <- all
	}()
	moved := int64(0)
	p, err := zcopy.Prepare(a, src, zcopy.Options{Progress: func(n int64) bool { moved = n; return true }})
	if err != nil {
		t.Fatal(err)
	}
	const runs = 200 // 12.5 MiB: more than the socket buffers hold, so runs must wait
	for i := 0; i < runs; i++ {
		r, err := p.Transfer(nil, zcopy.Int64(0), nil)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if r.Bytes != 65536 || r.Strategy != zcopy.Sendfile {
			t.Fatalf("run %d: %+v", i, r)
		}
	}
	if moved != 65536 {
		t.Errorf("progress saw %d, want the run's 65536", moved)
	}
	if r, err := p.Transfer(zcopy.Int64(100), zcopy.Int64(65500), nil); err != nil || r.Bytes != 36 {
		t.Fatalf("short run: %+v %v", r, err)
	}
	var zerr *zcopy.Error
	if _, err := p.Transfer(nil, zcopy.Int64(0), zcopy.Int64(1)); !errors.As(err, &zerr) ||
		zerr.Kind != zcopy.KindInvalid || zerr.Errno != syscall.ESPIPE {
		t.Errorf("dst offset on a socket: %v", err)
	}
	if _, err := p.Transfer(zcopy.Int64(-1), nil, nil); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid {
		t.Errorf("negative length: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Transfer(nil, nil, nil); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid {
		t.Errorf("after Close: %v", err)
	}
	p.Close()
	a.Close()
	all := <-got
	want := make([]byte, 0, runs*65536+36)
	for i := 0; i < runs; i++ {
		want = append(want, body...)
	}
	want = append(want, body[65500:]...)
	same(t, "prepared runs", all, want)
}

func TestPreparedKeepsItsOwnDescriptors(t *testing.T) {
	dir := t.TempDir()
	src := tempFile(t, "src", data(22, 3000))
	dst, err := os.Create(filepath.Join(dir, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := zcopy.Prepare(dst, src, zcopy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dst.Close() // the caller's descriptor; the prepared transfer holds its own
	if r, err := p.Transfer(nil, zcopy.Int64(0), zcopy.Int64(0)); err != nil || r.Bytes != 3000 {
		t.Fatalf("%+v %v", r, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	same(t, "dst", b, data(22, 3000))
	ro := tempFile(t, "ro", nil)
	var zerr *zcopy.Error
	if _, err := zcopy.Prepare(ro, src, zcopy.Options{}); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid {
		t.Errorf("read-only dst: %v", err)
	}
}

func TestPrepareToRunsFromEachFile(t *testing.T) {
	one, two := data(31, 5000), data(32, 300000)
	f1, f2 := tempFile(t, "one", one), tempFile(t, "two", two)
	a, b := tcpPair(t)
	got := make(chan []byte)
	go func() {
		time.Sleep(50 * time.Millisecond) // the second file fills the socket first, then waits
		all, _ := io.ReadAll(b)
		got <- all
	}()
	p, err := zcopy.PrepareTo(a, zcopy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var zerr *zcopy.Error
	if _, err := p.Transfer(nil, nil, nil); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid ||
		!strings.Contains(zerr.Message, "run_from") {
		t.Errorf("Transfer without a source: %v", err)
	}
	r, err := p.TransferFrom(f1, nil, zcopy.Int64(0), nil)
	if err != nil || r.Bytes != 5000 || r.UserCPUNs+r.SysCPUNs == 0 {
		t.Fatalf("first file: %+v %v", r, err)
	}
	if err := p.SetCPUMeter(false); err != nil {
		t.Fatal(err)
	}
	r, err = p.TransferFrom(f2, nil, zcopy.Int64(0), nil)
	if err != nil || r.Bytes != 300000 {
		t.Fatalf("second file: %+v %v", r, err)
	}
	if r.UserCPUNs+r.SysCPUNs != 0 || r.VoluntaryCtxSwitches != 0 {
		t.Errorf("meter off, yet CPU %d ns, %d switches", r.UserCPUNs+r.SysCPUNs, r.VoluntaryCtxSwitches)
	}
	if _, err := p.TransferFrom("not a file", nil, nil, nil); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid {
		t.Errorf("a string as the source: %v", err)
	}
	p.Close()
	if err := p.SetCPUMeter(true); !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid {
		t.Errorf("SetCPUMeter after Close: %v", err)
	}
	a.Close()
	same(t, "two files through one prepared destination", <-got, append(append([]byte{}, one...), two...))
}
