package zcopy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"zcopy.dev/zcopy"
)

// AutoChoice's First is the strategy the transfer then reports: a 4 KiB file -> file, and a
// file -> pipe.
func TestAutoChoiceIsWhatTransferRuns(t *testing.T) {
	want := data(21, 4096)
	src := tempFile(t, "src", want)
	dst := createFile(t, "dst")
	c, err := zcopy.AutoChoice(dst, src, zcopy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.First == "" || len(c.Order) == 0 || c.Order[0] != c.First || c.Why == "" {
		t.Fatalf("choice: %+v", c)
	}
	r, err := zcopy.Transfer(dst, src, zcopy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Bytes != 4096 || r.Strategy != c.First {
		t.Errorf("transfer ran %s (%d bytes), AutoChoice said %s", r.Strategy, r.Bytes, c.First)
	}
	if got := contents(t, dst); !bytes.Equal(got, want) {
		t.Errorf("copy differs")
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	opts := zcopy.Options{SrcOffset: zcopy.Int64(0)}
	c, err = zcopy.AutoChoice(pw, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.First == "" || c.First == zcopy.CopyFileRange {
		t.Fatalf("file -> pipe: %+v", c)
	}
	r, err = zcopy.Transfer(pw, src, opts)
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r.Bytes != 4096 || r.Strategy != c.First {
		t.Errorf("file -> pipe ran %s, AutoChoice said %s (%s)", r.Strategy, c.First, c.Why)
	}
	got, err := io.ReadAll(pr)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("the pipe got %d bytes: %v", len(got), err)
	}

	// A read-only destination; a bad name.
	_, err = zcopy.AutoChoice(src, dst, zcopy.Options{})
	var zerr *zcopy.Error
	if !errors.As(err, &zerr) || zerr.Kind != zcopy.KindInvalid ||
		zerr.Message != fmt.Sprintf("dst fd %d is opened read-only", src.Fd()) {
		t.Errorf("read-only destination: %v", err)
	}
	if _, err := zcopy.AutoChoice(dst, src, zcopy.Options{Strategy: "teleport"}); !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("bad strategy: %v", err)
	}
}

// Files lists exactly the files of a tree, as vmtouch walks it.
func TestFilesWalksATree(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(d, "b", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, n := range map[string]int{"a": 10, "b/x": 20, "b/c/y": 30} {
		if err := os.WriteFile(filepath.Join(d, p), data(1, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(d, "a"), filepath.Join(d, "link")); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	w, err := zcopy.Files(d, missing)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(d, "a"), filepath.Join(d, "b/c/y"), filepath.Join(d, "b/x")}
	if strings.Join(w.Files, "\n") != strings.Join(want, "\n") {
		t.Errorf("files: %q, want %q", w.Files, want)
	}
	if w.Directories != 3 || !w.AnyDirectory {
		t.Errorf("walk: %+v", w)
	}
	if len(w.Errors) != 1 || w.Errors[0].Path != missing || !errors.Is(w.Errors[0].Err, fs.ErrNotExist) ||
		w.Errors[0].Err.Error() != "zcopy: cannot open "+missing+": No such file or directory" {
		t.Errorf("errors: %+v", w.Errors)
	}
	one, err := zcopy.Files(filepath.Join(d, "a"))
	if err != nil || len(one.Files) != 1 || one.Directories != 0 || one.AnyDirectory {
		t.Errorf("one file: %+v %v", one, err)
	}
	none, err := zcopy.Files()
	if err != nil || len(none.Files) != 0 {
		t.Errorf("no paths: %+v %v", none, err)
	}
}

// Lock makes every page of a file resident and keeps it so until Close.
func TestLockKeepsPagesResident(t *testing.T) {
	n := mib + 100
	f := tempFile(t, "f", data(22, n))
	pages := int64((n + os.Getpagesize() - 1) / os.Getpagesize())
	if r, err := zcopy.Evict(f, 0, zcopy.ToEnd); err != nil || r.Resident != 0 {
		t.Fatalf("evict: %+v %v", r, err)
	}
	l, err := zcopy.Lock(f, 0, zcopy.ToEnd)
	if err != nil {
		t.Fatal(err)
	}
	if l.Pages() != pages || l.Bytes() != int64(n) {
		t.Errorf("locked %d pages, %d bytes; the file has %d pages, %d bytes", l.Pages(), l.Bytes(), pages, n)
	}
	if r, err := zcopy.Residency(f, 0, zcopy.ToEnd); err != nil || r.Pages != pages || r.Resident != pages {
		t.Errorf("locked: %+v %v", r, err)
	}
	if r, err := zcopy.Evict(f, 0, zcopy.ToEnd); err != nil || r.Resident != pages {
		t.Errorf("locked pages evicted: %+v %v", r, err)
	}
	l.Close()
	l.Close()
	if l.Pages() != 0 {
		t.Errorf("closed: %d pages", l.Pages())
	}
	if r, err := zcopy.Evict(f, 0, zcopy.ToEnd); err != nil || r.Resident != 0 {
		t.Errorf("unlocked: %+v %v", r, err)
	}
	page := int64(os.Getpagesize())
	part, err := zcopy.Lock(f, page+1, page)
	if err != nil || part.Pages() != 2 {
		t.Errorf("range: %v", err)
	}
	part.Close()
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	if _, err := zcopy.Lock(pr, 0, zcopy.ToEnd); !errors.Is(err, zcopy.ErrInvalid) ||
		!strings.Contains(err.Error(), "has no page cache") {
		t.Errorf("pipe: %v", err)
	}
	if _, err := zcopy.Lock(f, -1, zcopy.ToEnd); !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("negative offset: %v", err)
	}
}

// LockLimit is the soft RLIMIT_MEMLOCK, unless nothing binds it (unlimited, CAP_IPC_LOCK).
func TestLockLimit(t *testing.T) {
	const rlimitMemlock = 8
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(rlimitMemlock, &lim); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	capIPCLock := false
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var caps uint64
			for _, c := range strings.TrimSpace(hex) {
				caps = caps<<4 | uint64(strings.IndexRune("0123456789abcdef", c))
			}
			capIPCLock = caps&(1<<14) != 0
		}
	}
	limit, ok := zcopy.LockLimit()
	wantOK := lim.Cur != ^uint64(0) && !capIPCLock
	if ok != wantOK || (ok && limit != lim.Cur) {
		t.Errorf("LockLimit() = %d, %v; RLIMIT_MEMLOCK %d, CAP_IPC_LOCK %v", limit, ok, lim.Cur, capIPCLock)
	}
}

// Past a lowered RLIMIT_MEMLOCK, Lock fails with ENOMEM and LockLimit says so: in a child (this
// test binary again) with the limit at 64 KiB, run as nobody when root (root's CAP_IPC_LOCK
// lifts the limit), given the file as fd 3.
func TestLockPastRlimitMemlockFailsCleanly(t *testing.T) {
	if os.Getenv("ZCOPY_TEST_LOCK_CHILD") == "1" {
		lockChild(t)
		return
	}
	f := tempFile(t, "f", data(23, mib))
	// A copy of this binary nobody may run, in a folder nobody may enter.
	dir, err := os.MkdirTemp("", "zcopy-lock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "child.test")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestLockPastRlimitMemlockFailsCleanly$", "-test.v")
	cmd.Env = append(os.Environ(), "ZCOPY_TEST_LOCK_CHILD=1")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Dir = dir
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "--- SKIP") {
		t.Skipf("the child: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestLockPastRlimitMemlockFailsCleanly") {
		t.Errorf("the child: %v\n%s", err, out)
	}
}

func lockChild(t *testing.T) {
	const rlimitMemlock = 8
	lim := syscall.Rlimit{Cur: 64 << 10, Max: 64 << 10}
	if err := syscall.Setrlimit(rlimitMemlock, &lim); err != nil {
		t.Fatal(err)
	}
	limit, ok := zcopy.LockLimit()
	if !ok {
		t.Skip("the child has CAP_IPC_LOCK: the limit cannot bind")
	}
	if limit != 64<<10 {
		t.Errorf("LockLimit() = %d", limit)
	}
	f := os.NewFile(3, "the file")
	l, err := zcopy.Lock(f, 0, zcopy.ToEnd)
	var zerr *zcopy.Error
	if l != nil || !errors.Is(err, syscall.ENOMEM) || !errors.As(err, &zerr) || zerr.Kind != zcopy.KindIO ||
		!strings.HasPrefix(zerr.Message, "mlock of 1048576 bytes of ") {
		t.Errorf("Lock past the limit: %v", err)
	}
}
