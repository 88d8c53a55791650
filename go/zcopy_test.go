package zcopy_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"zcopy.dev/zcopy"
)

const mib = 1 << 20

// data returns n deterministic bytes of stream seed.
func data(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// tempFile writes content to a new file in t's temp folder and returns it open for reading.
func tempFile(t *testing.T, name string, content []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func createFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func contents(t *testing.T, f *os.File) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func same(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, want %d (equal prefix %d)", what, len(got), len(want), prefix(got, want))
	}
}

func prefix(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// tcpPair returns two connected loopback TCP connections.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

func unixPair(t *testing.T) (*net.UnixConn, *net.UnixConn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	a, b := conn(fds[0]), conn(fds[1])
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestVersionAndStrategies(t *testing.T) {
	if v := zcopy.Version(); !strings.HasPrefix(v, "0.") {
		t.Errorf("Version() = %q", v)
	}
	got := zcopy.Strategies()
	want := []zcopy.Strategy{zcopy.Auto, zcopy.ReadWrite, zcopy.MmapWrite, zcopy.Sendfile,
		zcopy.Splice, zcopy.CopyFileRange, zcopy.Reflink, zcopy.Direct, zcopy.IoUring, zcopy.MsgZerocopy}
	if len(got) != len(want) {
		t.Fatalf("Strategies() = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Strategies()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestTransferFileToFile(t *testing.T) {
	for _, st := range []zcopy.Strategy{"", zcopy.ReadWrite, zcopy.MmapWrite, zcopy.Sendfile,
		zcopy.Splice, zcopy.CopyFileRange} {
		for _, size := range []int{0, 1, 4095, 3*mib + 7} {
			want := data(int64(size), size)
			src := tempFile(t, "src", want)
			dst := createFile(t, "dst")
			r, err := zcopy.Transfer(dst, src, zcopy.Options{Strategy: st, NoFallback: st != ""})
			if err != nil {
				t.Fatalf("%q %d: %v", st, size, err)
			}
			if r.Bytes != int64(size) {
				t.Errorf("%q: Bytes = %d, want %d", st, r.Bytes, size)
			}
			if st != "" && r.Strategy != st {
				t.Errorf("Strategy = %q, want %q", r.Strategy, st)
			}
			if r.ModeSwitches != 2*r.Syscalls || r.Syscalls == 0 {
				t.Errorf("%q: ModeSwitches %d, Syscalls %d", st, r.ModeSwitches, r.Syscalls)
			}
			same(t, string(st), contents(t, dst), want)
			if pos, _ := src.Seek(0, io.SeekCurrent); pos != int64(size) {
				t.Errorf("src position %d, want %d", pos, size)
			}
		}
	}
}

func TestTransferOffsetsAndLen(t *testing.T) {
	want := data(2, 100000)
	src := tempFile(t, "src", want)
	dst := createFile(t, "dst")
	r, err := zcopy.Transfer(dst, src, zcopy.Options{
		SrcOffset: zcopy.Int64(1000), DstOffset: zcopy.Int64(0), Len: zcopy.Int64(5000)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Bytes != 5000 {
		t.Fatalf("Bytes = %d", r.Bytes)
	}
	same(t, "range", contents(t, dst), want[1000:6000])
	if pos, _ := src.Seek(0, io.SeekCurrent); pos != 0 {
		t.Errorf("src position moved to %d", pos)
	}
	r, err = zcopy.Transfer(dst, src, zcopy.Options{Len: zcopy.Int64(0)})
	if err != nil || r.Bytes != 0 {
		t.Errorf("Len 0: %d bytes, %v", r.Bytes, err)
	}
	if _, err := zcopy.Transfer(dst, src, zcopy.Options{Len: zcopy.Int64(-1)}); !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("negative Len: %v", err)
	}
}

func TestReportFieldsAndFallbacks(t *testing.T) {
	want := data(3, 2*mib)
	src := tempFile(t, "src", want)
	dst := createFile(t, "dst")
	r, err := zcopy.Transfer(dst, src, zcopy.Options{Strategy: zcopy.ReadWrite, ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.Syscalls < 65 || r.CPUCopiesBytes != 2*2*mib || r.DMACopiesBytes != 2*2*mib || r.Elapsed() <= 0 {
		t.Errorf("report %+v", r)
	}
	// reflink, with fallback, on a filesystem that cannot share extents: a recorded fallback.
	dst2 := createFile(t, "dst2")
	r, err = zcopy.Transfer(dst2, tempFile(t, "src2", want), zcopy.Options{Strategy: zcopy.Reflink})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "after fallback", contents(t, dst2), want)
	if r.Strategy != zcopy.Reflink {
		if len(r.Fallbacks) == 0 || r.Fallbacks[0].Strategy != zcopy.Reflink || r.Fallbacks[0].Reason == "" {
			t.Errorf("fallbacks %+v", r.Fallbacks)
		}
	}
}

// os.Pipe ends are non-blocking and managed by the runtime's poller: the transfer waits
// through it when the pipe is full or empty.
func TestTransferPipes(t *testing.T) {
	want := data(4, 8*mib+3)
	for _, st := range []zcopy.Strategy{"", zcopy.Sendfile, zcopy.Splice, zcopy.ReadWrite} {
		src := tempFile(t, "src", want)
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(pr)
			got <- b
		}()
		r, err := zcopy.Transfer(pw, src, zcopy.Options{Strategy: st, NoFallback: st != ""})
		pw.Close()
		b := <-got
		pr.Close()
		if err != nil {
			t.Fatalf("%q file -> pipe: %v", st, err)
		}
		if r.Bytes != int64(len(want)) {
			t.Errorf("%q: Bytes %d", st, r.Bytes)
		}
		same(t, string(st)+" file -> pipe", b, want)
	}
	// pipe -> file, a slow writer: the source would block.
	pr, pw, _ := os.Pipe()
	go func() {
		for off := 0; off < len(want); off += mib {
			end := off + mib
			if end > len(want) {
				end = len(want)
			}
			pw.Write(want[off:end])
			time.Sleep(time.Millisecond)
		}
		pw.Close()
	}()
	dst := createFile(t, "dst")
	r, err := zcopy.Transfer(dst, pr, zcopy.Options{})
	pr.Close()
	if err != nil {
		t.Fatalf("pipe -> file: %v", err)
	}
	if r.Bytes != int64(len(want)) {
		t.Errorf("pipe -> file: Bytes %d", r.Bytes)
	}
	same(t, "pipe -> file", contents(t, dst), want)
}

func TestTransferTCPAndUnix(t *testing.T) {
	want := data(5, 8*mib+11)
	type pair struct {
		name string
		a, b net.Conn
	}
	ta, tb := tcpPair(t)
	ua, ub := unixPair(t)
	for _, p := range []pair{{"tcp", ta, tb}, {"unix", ua, ub}} {
		// file -> socket, a reader on the other end
		src := tempFile(t, "src", want)
		got := make(chan []byte)
		go func(c net.Conn) {
			b, _ := io.ReadAll(c)
			got <- b
		}(p.b)
		r, err := zcopy.Transfer(p.a, src, zcopy.Options{})
		if err != nil {
			t.Fatalf("%s file -> socket: %v", p.name, err)
		}
		p.a.(interface{ CloseWrite() error }).CloseWrite()
		same(t, p.name+" file -> socket", <-got, want)
		if r.Bytes != int64(len(want)) || r.Strategy == "" {
			t.Errorf("%s: report %+v", p.name, r)
		}

		// socket -> file, a writer on the other end (b, whose reading side saw EOF)
		dst := createFile(t, "dst")
		go func(c net.Conn) {
			c.Write(want)
			c.Close()
		}(p.b)
		r, err = zcopy.Transfer(dst, p.a, zcopy.Options{})
		if err != nil {
			t.Fatalf("%s socket -> file: %v", p.name, err)
		}
		same(t, p.name+" socket -> file", contents(t, dst), want)
	}
}

// A source that would block is waited for through the poller, which honours its deadline.
func TestWaitHonoursDeadlines(t *testing.T) {
	a, b := tcpPair(t)
	dst := createFile(t, "dst")
	go func() {
		b.Write([]byte("some bytes"))
		// then nothing: the transfer waits until the deadline
	}()
	a.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	start := time.Now()
	r, err := zcopy.Transfer(dst, a, zcopy.Options{})
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Errorf("returned after %v, before the deadline", time.Since(start))
	}
	if r.Bytes != 10 {
		t.Errorf("Bytes = %d, want 10", r.Bytes)
	}
	same(t, "before the deadline", contents(t, dst), []byte("some bytes"))
}

func TestPeerGoneIsEPIPENotASignal(t *testing.T) {
	src := tempFile(t, "src", data(6, 16*mib))
	a, b := unixPair(t)
	go func() {
		buf := make([]byte, 256<<10)
		io.ReadFull(b, buf)
		b.Close()
	}()
	r, err := zcopy.Transfer(a, src, zcopy.Options{ChunkSize: 64 << 10})
	if err == nil {
		t.Fatal("no error after the peer closed")
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("err = %v, want EPIPE or ECONNRESET", err)
	}
	var zerr *zcopy.Error
	if !errors.As(err, &zerr) || zerr.Kind != zcopy.KindIO || zerr.BytesMoved < 256<<10 || zerr.BytesMoved != r.Bytes {
		t.Fatalf("error %#v, report bytes %d", zerr, r.Bytes)
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) || (errno != syscall.EPIPE && errno != syscall.ECONNRESET) {
		t.Errorf("errors.As errno = %v", errno)
	}
}

func TestErrors(t *testing.T) {
	src := tempFile(t, "src", data(7, 1000))
	dst := createFile(t, "dst")

	_, err := zcopy.Transfer(dst, src, zcopy.Options{Strategy: "teleport"})
	if !errors.Is(err, zcopy.ErrInvalid) || !errors.Is(err, syscall.EINVAL) ||
		!strings.Contains(err.Error(), `unknown strategy "teleport"`) {
		t.Errorf("bad strategy: %v", err)
	}
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	_, err = zcopy.Transfer(pw, src, zcopy.Options{Strategy: zcopy.CopyFileRange, NoFallback: true})
	if !errors.Is(err, zcopy.ErrUnsupported) {
		t.Errorf("copy_file_range to a pipe: %v", err)
	}
	_, err = zcopy.Transfer(src, dst, zcopy.Options{}) // src is opened read-only
	if !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only destination: %v", err)
	}
	dir, _ := os.Open(t.TempDir())
	defer dir.Close()
	_, err = zcopy.Transfer(dst, dir, zcopy.Options{})
	if !errors.Is(err, syscall.EISDIR) || errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("directory: %v", err)
	}
	_, err = zcopy.Transfer(dst, &bytes.Buffer{}, zcopy.Options{})
	if !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), "has no file descriptor") {
		t.Errorf("a bytes.Buffer: %v", err)
	}
	_, err = zcopy.Transfer(dst, nil, zcopy.Options{})
	if !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("nil: %v", err)
	}
	closed := tempFile(t, "closed", []byte("x"))
	closed.Close()
	_, err = zcopy.Transfer(dst, closed, zcopy.Options{})
	if !errors.Is(err, syscall.EBADF) {
		t.Errorf("closed file: %v", err)
	}
	_, err = zcopy.Transfer(dst, zcopy.FD(-1), zcopy.Options{})
	if !errors.Is(err, syscall.EBADF) {
		t.Errorf("FD(-1): %v", err)
	}
	_, err = zcopy.Transfer(dst, src, zcopy.Options{Cache: "sometimes"})
	if !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("bad cache policy: %v", err)
	}
}

func TestFD(t *testing.T) {
	want := data(8, 5000)
	src := tempFile(t, "src", want)
	dst := createFile(t, "dst")
	if _, err := zcopy.Transfer(zcopy.FD(dst.Fd()), zcopy.FD(src.Fd()), zcopy.Options{}); err != nil {
		t.Fatal(err)
	}
	same(t, "FD", contents(t, dst), want)
}

func TestProgressAndCancel(t *testing.T) {
	want := data(9, 4*mib)
	src := tempFile(t, "src", want)
	dst := createFile(t, "dst")
	var calls int
	var last int64
	_, err := zcopy.Transfer(dst, src, zcopy.Options{Strategy: zcopy.ReadWrite, ChunkSize: 256 << 10,
		Progress: func(moved int64) bool { calls++; last = moved; return true }})
	if err != nil || calls < 16 || last != int64(len(want)) {
		t.Fatalf("progress: %d calls, last %d, %v", calls, last, err)
	}

	dst2 := createFile(t, "dst2")
	src.Seek(0, io.SeekStart)
	r, err := zcopy.Transfer(dst2, src, zcopy.Options{Strategy: zcopy.ReadWrite, ChunkSize: 256 << 10,
		Progress: func(moved int64) bool { return moved < mib }})
	var zerr *zcopy.Error
	if !errors.Is(err, zcopy.ErrCancelled) || !errors.Is(err, syscall.ECANCELED) || !errors.As(err, &zerr) {
		t.Fatalf("stopped: %v", err)
	}
	if zerr.BytesMoved < mib || zerr.BytesMoved != r.Bytes {
		t.Errorf("BytesMoved %d, report %d", zerr.BytesMoved, r.Bytes)
	}
	same(t, "stopped", contents(t, dst2), want[:r.Bytes])

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = zcopy.TransferContext(ctx, createFile(t, "dst3"), src, zcopy.Options{})
	if !errors.Is(err, zcopy.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}

	// A context cancelled part way, through the progress checks between chunks.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	src.Seek(0, io.SeekStart)
	_, err = zcopy.TransferContext(ctx, createFile(t, "dst4"), src, zcopy.Options{
		Strategy: zcopy.ReadWrite, ChunkSize: 64 << 10,
		Progress: func(moved int64) bool {
			if moved >= mib {
				cancel()
			}
			return true
		}})
	if !errors.Is(err, zcopy.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Errorf("context cancelled part way: %v", err)
	}
}

func TestProgressPanicReachesTheCallerNotC(t *testing.T) {
	src := tempFile(t, "src", data(10, mib))
	defer func() {
		if v := recover(); v != "boom" {
			t.Errorf("recovered %v, want boom", v)
		}
	}()
	zcopy.Transfer(createFile(t, "dst"), src, zcopy.Options{Strategy: zcopy.ReadWrite, ChunkSize: 4096,
		Progress: func(int64) bool { panic("boom") }})
	t.Error("no panic")
}

func TestConcurrentTransfers(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			want := data(int64(100+i), mib+i)
			src := tempFile(t, "src", want)
			dst := createFile(t, "dst")
			if _, err := zcopy.Transfer(dst, src, zcopy.Options{}); err != nil {
				errs <- err
				return
			}
			// Errors are per call even though libzcopy keeps them per OS thread.
			_, err := zcopy.Transfer(dst, src, zcopy.Options{Strategy: zcopy.Strategy("bad" + string(rune('a'+i)))})
			if err == nil || !strings.Contains(err.Error(), "bad"+string(rune('a'+i))) {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	want := data(11, 3*mib+1)
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, want, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(src, 0o640)
	dst := filepath.Join(dir, "dst")
	r, err := zcopy.CopyFile(dst, src, zcopy.Options{})
	if err != nil || r.Bytes != int64(len(want)) {
		t.Fatalf("%d bytes, %v", r.Bytes, err)
	}
	got, _ := os.ReadFile(dst)
	same(t, "CopyFile", got, want)
	// A new file: the source's mode minus the umask (0o640 under the usual 022 or 077 gives
	// 0o640 or 0o600), as cp.
	umask := currentUmask(t)
	if st, _ := os.Stat(dst); uint32(st.Mode().Perm()) != 0o640&^umask {
		t.Errorf("mode %v, umask %o", st.Mode(), umask)
	}
	_, err = zcopy.CopyFile(dst, filepath.Join(dir, "missing"), zcopy.Options{})
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing: %v", err)
	}
	_, err = zcopy.CopyFile(src, src, zcopy.Options{})
	if !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("same file: %v", err)
	}
	var calls int
	if _, err := zcopy.CopyFile(dst, src, zcopy.Options{Strategy: zcopy.ReadWrite, ChunkSize: mib,
		Progress: func(int64) bool { calls++; return true }}); err != nil || calls < 3 {
		t.Errorf("progress: %d calls, %v", calls, err)
	}
}

func TestProbe(t *testing.T) {
	src := tempFile(t, "src", data(12, 100))
	dst := createFile(t, "dst")
	s, err := zcopy.Probe(dst, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != len(zcopy.Strategies())-1 {
		t.Fatalf("%d entries", len(s))
	}
	for _, e := range s {
		if e.Supported != (e.Reason == "") || e.Strategy == zcopy.Auto {
			t.Errorf("%+v", e)
		}
		if (e.Strategy == zcopy.ReadWrite || e.Strategy == zcopy.CopyFileRange) && !e.Supported {
			t.Errorf("%s cannot serve file -> file: %s", e.Strategy, e.Reason)
		}
	}
	if _, err := zcopy.Probe(src, dst); !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("reversed: %v", err)
	}
}

func TestPageCache(t *testing.T) {
	f := tempFile(t, "f", data(13, 1*mib))
	r, err := zcopy.Warm(f, 0, zcopy.ToEnd)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pages == 0 || r.Resident != r.Pages || r.Ratio != 1 || r.Method == "none" {
		t.Errorf("after Warm: %+v", r)
	}
	res, err := zcopy.Residency(f, 0, zcopy.ToEnd)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(res.Bitmap)) != res.Pages || res.Resident != res.Pages || res.Bitmap[0] != 1 {
		t.Errorf("Residency: %+v", res)
	}
	ev, err := zcopy.Evict(f, 0, zcopy.ToEnd)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Resident != 0 {
		t.Errorf("after Evict: %+v", ev)
	}
	half, err := zcopy.Residency(f, 0, 4096)
	if err != nil || half.Pages != 1 {
		t.Errorf("one page: %+v %v", half, err)
	}
	for _, a := range []zcopy.Advice{zcopy.AdviceNormal, zcopy.AdviceSequential, zcopy.AdviceRandom,
		zcopy.AdviceWillNeed, zcopy.AdviceDontNeed, zcopy.AdviceNoReuse} {
		if applied, err := zcopy.Advise(f, 0, zcopy.ToEnd, a); err != nil || !applied {
			t.Errorf("Advise %s: %v %v", a, applied, err)
		}
	}
	if applied, err := zcopy.Readahead(f, 0, zcopy.ToEnd); err != nil || !applied {
		t.Errorf("Readahead: %v %v", applied, err)
	}
	if _, err := zcopy.Advise(f, 0, zcopy.ToEnd, "often"); !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("bad advice: %v", err)
	}
	if _, err := zcopy.Residency(f, -1, zcopy.ToEnd); !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("negative offset: %v", err)
	}
	// A pipe has no page cache: not an error.
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	if r, err := zcopy.Residency(pr, 0, zcopy.ToEnd); err != nil || r.Method != "none" {
		t.Errorf("pipe residency: %+v %v", r, err)
	}
	if applied, err := zcopy.Advise(pr, 0, zcopy.ToEnd, zcopy.AdviceWillNeed); err != nil || applied {
		t.Errorf("pipe advise: %v %v", applied, err)
	}
	if _, err := zcopy.Residency(zcopy.FD(-1), 0, zcopy.ToEnd); !errors.Is(err, syscall.EBADF) {
		t.Errorf("bad fd: %v", err)
	}
}

func TestOptionsCacheAndSync(t *testing.T) {
	want := data(14, 2*mib)
	src := tempFile(t, "src", want)
	dst := createFile(t, "dst")
	_, err := zcopy.Transfer(dst, src, zcopy.Options{Cache: zcopy.CacheDropAfter, Sync: zcopy.SyncData, NoSparse: true,
		DirectThreshold: zcopy.Int64(1 << 40)})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "drop_after + sync", contents(t, dst), want)

	// dontcache: read_write with RWF_DONTCACHE leaves both files out of the cache, or (a
	// kernel or filesystem without it) drop_after, with a fallback saying why.
	src = tempFile(t, "src2", want)
	if _, err := zcopy.Evict(src, 0, zcopy.ToEnd); err != nil {
		t.Fatal(err)
	}
	dst = createFile(t, "dst2")
	r, err := zcopy.Transfer(dst, src, zcopy.Options{Cache: zcopy.CacheDontCache, Sync: zcopy.SyncData})
	if err != nil {
		t.Fatal(err)
	}
	if r.Strategy == zcopy.ReadWrite && len(r.Fallbacks) == 0 {
		for _, f := range []*os.File{src, dst} {
			res, err := zcopy.Residency(f, 0, zcopy.ToEnd)
			if err != nil || res.Resident != 0 {
				t.Errorf("dontcache left %s cached: %+v %v", f.Name(), res, err)
			}
		}
	} else if len(r.Fallbacks) == 0 || !strings.Contains(r.Fallbacks[0].Reason, "RWF_DONTCACHE") {
		t.Errorf("dontcache: %+v", r)
	}
	same(t, "dontcache + sync", contents(t, dst), want)
}

func TestIoUringQueueDepth(t *testing.T) {
	want := data(5*mib+3, 9)
	for _, q := range []uint32{1, 3, 16} {
		src := tempFile(t, "src", want)
		dst := createFile(t, "dst")
		r, err := zcopy.Transfer(dst, src, zcopy.Options{Strategy: zcopy.IoUring, NoFallback: true, QueueDepth: q})
		if err != nil {
			t.Fatalf("queue depth %d: %v", q, err)
		}
		if r.Strategy != zcopy.IoUring {
			t.Errorf("Strategy = %q", r.Strategy)
		}
		same(t, "io_uring", contents(t, dst), want)
	}
	src := tempFile(t, "src", want)
	_, err := zcopy.Transfer(createFile(t, "dst"), src, zcopy.Options{Strategy: zcopy.IoUring, QueueDepth: 2000})
	if !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), "queue_depth") {
		t.Errorf("queue depth 2000: %v", err)
	}
}

func TestParallelism(t *testing.T) {
	want := data(11, 40*mib+12345)
	for _, n := range []uint32{2, 3, 4} {
		src := tempFile(t, "src", want)
		src.Seek(1000, io.SeekStart)
		dst := createFile(t, "dst")
		r, err := zcopy.Transfer(dst, src, zcopy.Options{Strategy: zcopy.CopyFileRange, NoFallback: true, Parallelism: n})
		if err != nil {
			t.Fatalf("parallelism %d: %v", n, err)
		}
		if r.Bytes != int64(len(want)-1000) || r.Strategy != zcopy.CopyFileRange {
			t.Errorf("parallelism %d: %d bytes by %q", n, r.Bytes, r.Strategy)
		}
		if pos, _ := src.Seek(0, io.SeekCurrent); pos != int64(len(want)) {
			t.Errorf("parallelism %d: src position %d", n, pos)
		}
		if pos, _ := dst.Seek(0, io.SeekCurrent); pos != r.Bytes {
			t.Errorf("parallelism %d: dst position %d", n, pos)
		}
		same(t, "parallel", contents(t, dst), want[1000:])
	}

	// Stopped by Progress part way: the error's BytesMoved is an exact prefix.
	src := tempFile(t, "src", want)
	dst := createFile(t, "dst")
	r, err := zcopy.Transfer(dst, src, zcopy.Options{Strategy: zcopy.ReadWrite, ChunkSize: 64 << 10, Parallelism: 4,
		Progress: func(moved int64) bool { return moved < mib }})
	var zerr *zcopy.Error
	if !errors.Is(err, zcopy.ErrCancelled) || !errors.As(err, &zerr) {
		t.Fatalf("stopped: %v", err)
	}
	if zerr.BytesMoved != r.Bytes || r.Bytes >= int64(len(want)) {
		t.Errorf("BytesMoved %d, report %d", zerr.BytesMoved, r.Bytes)
	}
	same(t, "stopped prefix", contents(t, dst)[:r.Bytes], want[:r.Bytes])

	_, err = zcopy.Transfer(createFile(t, "dst"), src, zcopy.Options{Parallelism: 65})
	if !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), "parallelism 65") {
		t.Errorf("parallelism 65: %v", err)
	}
}

// currentUmask reads the process's umask from /proc/self/status (setting it to read it would
// change it under other goroutines).
func currentUmask(t *testing.T) uint32 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			var m uint32
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%o", &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatal("no Umask: line in /proc/self/status")
	return 0
}

// TestCopyFileUnderUmask077 runs itself again in a child process with umask 077 (the umask is
// process-wide): as cp, a new file gets the source's mode minus the umask and without setuid,
// setgid and sticky; an existing destination keeps its mode.
func TestCopyFileUnderUmask077(t *testing.T) {
	if os.Getenv("ZCOPY_GO_UMASK_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCopyFileUnderUmask077$", "-test.v")
		cmd.Env = append(os.Environ(), "ZCOPY_GO_UMASK_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "umask child checked") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	syscall.Umask(0o077)
	dir := t.TempDir()
	want := data(12, mib+3)
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, want, 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(dst string, mode uint32) {
		t.Helper()
		if _, err := zcopy.CopyFile(dst, src, zcopy.Options{}); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(dst)
		same(t, dst, got, want)
		st, err := os.Stat(dst)
		if err != nil {
			t.Fatal(err)
		}
		if m := uint32(st.Mode().Perm()) | uint32(st.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); m != mode {
			t.Errorf("%s: mode %v, want %o", dst, st.Mode(), mode)
		}
	}
	for _, c := range []struct{ src, want uint32 }{{0o666, 0o600}, {0o4755, 0o700}} {
		// os.Chmod takes Go's mode bits: setuid is os.ModeSetuid.
		m := os.FileMode(c.src & 0o777)
		if c.src&0o4000 != 0 {
			m |= os.ModeSetuid
		}
		if err := os.Chmod(src, m); err != nil {
			t.Fatal(err)
		}
		check(filepath.Join(dir, fmt.Sprintf("new%o", c.src)), c.want)
	}
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(src, 0o666)
	check(existing, 0o600)
	t.Log("umask child checked")
}

// Issue 14, case 4: a strict technique never succeeds short on a procfs or sysfs file (which
// reports size 0 or one page): ErrUnsupported with nothing written; with fallback, the bytes
// a plain read gives.
func TestStrictRefusesSizelessSources(t *testing.T) {
	for _, path := range []string{"/proc/cpuinfo", "/sys/devices/system/cpu/online"} {
		want, err := os.ReadFile(path)
		if err != nil {
			t.Logf("skip %s: %v", path, err)
			continue
		}
		for _, s := range []zcopy.Strategy{zcopy.MmapWrite, zcopy.Reflink, zcopy.CopyFileRange, zcopy.Sendfile} {
			src, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			dst, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			r, err := zcopy.Transfer(dst, src, zcopy.Options{Strategy: s, NoFallback: true})
			if !errors.Is(err, zcopy.ErrUnsupported) || !strings.Contains(err.Error(), "whose files report no true size") || r.Bytes != 0 {
				t.Errorf("%s of %s: %d bytes, %v", s, path, r.Bytes, err)
			}
			if got, _ := os.ReadFile(out); len(got) != 0 {
				t.Errorf("%s of %s wrote %d bytes", s, path, len(got))
			}
			r, err = zcopy.Transfer(dst, src, zcopy.Options{Strategy: s})
			if err != nil || r.Bytes != int64(len(want)) {
				t.Errorf("%s of %s with fallback: %d bytes, %v", s, path, r.Bytes, err)
			}
			got, _ := os.ReadFile(out)
			same(t, s.String()+" "+path, got, want)
			src.Close()
			dst.Close()
		}
	}
}

// Issue 14, cases 5 and 14: a directory is an OS error (EISDIR), as open(2) says; a FIFO is
// refused by CopyFile (ErrInvalid) before an open that would block; a server's missing root
// is an OS error (ENOENT).
func TestPathErrorsMatchOpen(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	_, err := zcopy.CopyFile(out, dir, zcopy.Options{})
	var zerr *zcopy.Error
	if !errors.Is(err, syscall.EISDIR) || errors.Is(err, zcopy.ErrInvalid) || !errors.As(err, &zerr) || zerr.Kind != zcopy.KindIO {
		t.Errorf("a directory as src: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := zcopy.CopyFile(out, fifo, zcopy.Options{})
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil { // wakes the blocked open
			f.Close() // then end of file
		}
		<-done
		t.Fatal("CopyFile blocked opening a FIFO instead of refusing it")
	}
	if !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), "is a named pipe") {
		t.Errorf("a FIFO as src: %v", err)
	}
	_, err = zcopy.Serve(filepath.Join(dir, "missing"), zcopy.ServeOptions{Listen: "127.0.0.1:0"})
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &zerr) || zerr.Kind != zcopy.KindIO {
		t.Errorf("a missing root: %v", err)
	}
}

// Issue 14, case 15: a file on tmpfs (/dev/shm) lives in memory: no DMA copy at that end.
func TestMemoryFilesystemsCostNoDMA(t *testing.T) {
	var shm, tmp syscall.Statfs_t
	dir := t.TempDir()
	if syscall.Statfs("/dev/shm", &shm) != nil || shm.Type != 0x01021994 ||
		syscall.Statfs(dir, &tmp) != nil || tmp.Type == 0x01021994 {
		t.Skip("needs /dev/shm on tmpfs and the temp folder on a disk filesystem")
	}
	shmDir, err := os.MkdirTemp("/dev/shm", "zcopy-go-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(shmDir)
	want := data(15, mib+7)
	a, b := filepath.Join(shmDir, "a"), filepath.Join(shmDir, "b")
	disk := filepath.Join(dir, "disk")
	if os.WriteFile(a, want, 0o600) != nil || os.WriteFile(disk, want, 0o600) != nil {
		t.Fatal("fixtures")
	}
	for _, c := range []struct {
		src, dst string
		dma      uint64
	}{{a, b, 0}, {a, "/dev/null", 0}, {disk, b, uint64(len(want))}} {
		r, err := zcopy.CopyFile(c.dst, c.src, zcopy.Options{})
		if err != nil || r.Bytes != int64(len(want)) || r.DMACopiesBytes != c.dma {
			t.Errorf("%s -> %s: %d bytes, %d DMA (want %d), %v", c.src, c.dst, r.Bytes, r.DMACopiesBytes, c.dma, err)
		}
	}
}

func TestTransferBufferedSendsReadAheadFirst(t *testing.T) {
	want := data(21, 100000)
	src := tempFile(t, "src", want)
	dst := createFile(t, "dst")
	r := bufio.NewReaderSize(src, 4096)
	head := make([]byte, 100)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatal(err)
	}
	ahead, err := r.Peek(r.Buffered())
	if err != nil || len(ahead) != 4096-100 {
		t.Fatalf("Peek: %d bytes, %v", len(ahead), err)
	}
	rep, err := zcopy.TransferBuffered(dst, src, ahead, zcopy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Bytes != int64(len(want)-100) {
		t.Fatalf("Bytes = %d, want %d", rep.Bytes, len(want)-100)
	}
	if _, err := r.Discard(len(ahead)); err != nil {
		t.Fatal(err)
	}
	same(t, "buffered", contents(t, dst), want[100:])

	// A Len inside the read-ahead takes only from it: the descriptor's position stays.
	if _, err := src.Seek(4096, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	dst2 := createFile(t, "dst2")
	rep, err = zcopy.TransferBuffered(dst2, src, want[100:4096], zcopy.Options{Len: zcopy.Int64(500)})
	if err != nil || rep.Bytes != 500 {
		t.Fatalf("Len 500: %d bytes, %v", rep.Bytes, err)
	}
	same(t, "len", contents(t, dst2), want[100:600])
	if pos, _ := src.Seek(0, io.SeekCurrent); pos != 4096 {
		t.Errorf("src position moved to %d", pos)
	}

	// A SrcOffset with bytes read ahead cannot make sense.
	_, err = zcopy.TransferBuffered(dst2, src, want[:10], zcopy.Options{SrcOffset: zcopy.Int64(0)})
	if !errors.Is(err, zcopy.ErrInvalid) || !strings.Contains(err.Error(), "src_offset") {
		t.Errorf("SrcOffset with read-ahead: %v", err)
	}
}
