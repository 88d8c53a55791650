package zcopy_test

// Hostile cases through the Go package: a panic inside the engine is an error of KindPanic
// (the program lives, its files stay open with their flags), /dev/full and a full tmpfs give
// ENOSPC with the exact prefix in BytesMoved, and offsets across 2^32 in a 5 GiB sparse file
// are exact.

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"zcopy.dev/zcopy"
)

func fdFlags(t *testing.T, f *os.File) [2]int {
	t.Helper()
	var out [2]int
	for i, cmd := range []int{syscall.F_GETFD, syscall.F_GETFL} {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), uintptr(cmd), 0)
		if e != 0 {
			t.Fatalf("fcntl on %s: %v", f.Name(), e)
		}
		out[i] = int(r)
	}
	return out
}

// skipWithoutPanicHooks skips a test that injects panics in a build without the hooks.
func skipWithoutPanicHooks(t *testing.T) {
	t.Helper()
	if !zcopy.PanicHooks {
		t.Skip("no panic hooks: build with -tags zcopy_testing against a libzcopy built with its " +
			"cargo feature testing (scripts/test-go.sh does)")
	}
}

func TestPanicInsideTheEngineIsAnError(t *testing.T) {
	skipWithoutPanicHooks(t)
	want := data(50, 8<<20)
	for _, s := range []zcopy.Strategy{zcopy.Auto, zcopy.ReadWrite, zcopy.MmapWrite, zcopy.Sendfile,
		zcopy.Splice, zcopy.CopyFileRange, zcopy.Direct, zcopy.IoUring} {
		t.Run(string(s), func(t *testing.T) {
			src := tempFile(t, "src", want)
			dst := createFile(t, "dst")
			before := [2][2]int{fdFlags(t, src), fdFlags(t, dst)}
			opts := zcopy.Options{Strategy: s, NoFallback: true, ChunkSize: 256 << 10}
			// The hook is per OS thread: inject and transfer on the same one.
			runtime.LockOSThread()
			zcopy.InjectPanic(1 << 20)
			_, err := zcopy.Transfer(dst, src, opts)
			runtime.UnlockOSThread()
			var zerr *zcopy.Error
			if !errors.As(err, &zerr) || !errors.Is(err, zcopy.ErrPanic) || zerr.Kind != zcopy.KindPanic {
				t.Fatalf("want a KindPanic *zcopy.Error, got %v", err)
			}
			if !strings.Contains(err.Error(), "injected panic") {
				t.Errorf("message: %v", err)
			}
			if after := [2][2]int{fdFlags(t, src), fdFlags(t, dst)}; after != before {
				t.Errorf("fd flags %v, before %v", after, before)
			}
			// The library still works, with the same technique.
			if _, err := src.Seek(0, 0); err != nil {
				t.Fatal(err)
			}
			if err := dst.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if _, err := dst.Seek(0, 0); err != nil {
				t.Fatal(err)
			}
			r, err := zcopy.Transfer(dst, src, opts)
			if err != nil || r.Bytes != int64(len(want)) {
				t.Fatalf("after the panic: %d bytes, %v", r.Bytes, err)
			}
			same(t, "after the panic", contents(t, dst), want)
		})
	}
}

func TestDevFullIsENOSPC(t *testing.T) {
	for _, s := range []zcopy.Strategy{zcopy.Auto, zcopy.ReadWrite, zcopy.Sendfile, zcopy.Splice} {
		src := tempFile(t, "src", data(51, 1<<20))
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = zcopy.Transfer(full, src, zcopy.Options{Strategy: s})
		var zerr *zcopy.Error
		if !errors.As(err, &zerr) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s: want ENOSPC, got %v", s, err)
		}
		if zerr.BytesMoved != 0 || !strings.Contains(zerr.Message, "dst") {
			t.Errorf("%s: %d bytes, message %q", s, zerr.BytesMoved, zerr.Message)
		}
		if pos, _ := src.Seek(0, 1); pos != 0 {
			t.Errorf("%s: the source position moved to %d", s, pos)
		}
		full.Close()
	}
}

func TestENOSPCMidTransferKeepsTheExactPrefix(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("zcopy-test", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a 1 MiB tmpfs (%v); TestDevFullIsENOSPC checks ENOSPC instead", err)
	}
	defer syscall.Unmount(mnt, 0)
	want := data(52, 4<<20)
	for _, s := range []zcopy.Strategy{zcopy.Auto, zcopy.ReadWrite, zcopy.Sendfile, zcopy.Splice, zcopy.MmapWrite} {
		src := tempFile(t, "src", want)
		path := filepath.Join(mnt, "dst")
		dst, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = zcopy.Transfer(dst, src, zcopy.Options{Strategy: s})
		var zerr *zcopy.Error
		if !errors.As(err, &zerr) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s: want ENOSPC, got %v", s, err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if zerr.BytesMoved <= 0 || zerr.BytesMoved >= int64(len(want)) || int64(len(got)) != zerr.BytesMoved {
			t.Fatalf("%s: BytesMoved %d, dst holds %d", s, zerr.BytesMoved, len(got))
		}
		same(t, string(s)+": the prefix", got, want[:len(got)])
		dst.Close()
		os.Remove(path)
	}
}

func TestOffsetsAcross4GiB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.sparse")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(5<<30) + 17
	if err := f.Truncate(size); err != nil {
		t.Skipf("this filesystem cannot hold a 5 GiB file: %v", err)
	}
	marks := map[int64]byte{1<<31 - 3: 0xA0, 1 << 31: 0xA1, 1<<32 - 1: 0xA2, 1 << 32: 0xA3, 1<<32 + 4096: 0xA4, size - 1: 0xA5}
	for off, b := range marks {
		if _, err := f.WriteAt([]byte{b}, off); err != nil {
			t.Fatal(err)
		}
	}
	start, n, at := int64(1<<32-4096), int64(8192), int64(1<<32+5)
	want := make([]byte, n)
	for off, b := range marks {
		if off >= start && off < start+n {
			want[off-start] = b
		}
	}
	for _, s := range []zcopy.Strategy{zcopy.Auto, zcopy.ReadWrite, zcopy.Sendfile, zcopy.CopyFileRange} {
		dst := createFile(t, "dst-"+string(s))
		r, err := zcopy.Transfer(dst, f, zcopy.Options{Strategy: s, NoFallback: true,
			SrcOffset: zcopy.Int64(start), DstOffset: zcopy.Int64(at), Len: zcopy.Int64(n)})
		if err != nil || r.Bytes != n {
			t.Fatalf("%s: %d bytes, %v", s, r.Bytes, err)
		}
		got := make([]byte, n)
		if _, err := dst.ReadAt(got, at); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: bytes across 2^32 differ", s)
		}
		if pos, _ := f.Seek(0, 1); pos != 0 {
			t.Errorf("%s: explicit offsets moved the source position to %d", s, pos)
		}
	}
	// An offset the kernel's signed loff_t cannot hold is refused, naming the offset.
	_, err = zcopy.Transfer(createFile(t, "x"), f, zcopy.Options{SrcOffset: zcopy.Int64(-1)})
	if !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), "ffset") {
		t.Errorf("a negative offset: %v", err)
	}
}
