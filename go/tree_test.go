package zcopy_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"zcopy.dev/zcopy"
)

// makeTree builds a small tree with every kind of entry: files (empty, 100 KiB, sparse), nested
// directories, relative and dangling symlinks, a hard link, a FIFO, odd modes, ns times.
func makeTree(t *testing.T, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	must(os.WriteFile(filepath.Join(root, "empty"), nil, 0o644))
	must(os.WriteFile(filepath.Join(root, "a/b/f"), data(9, 100_000), 0o600))
	f, err := os.Create(filepath.Join(root, "sparse"))
	must(err)
	must(f.Truncate(4 * mib))
	_, err = f.WriteAt([]byte("tail"), 4*mib)
	must(err)
	must(f.Close())
	must(os.Link(filepath.Join(root, "a/b/f"), filepath.Join(root, "a/hard")))
	must(os.Symlink("b/f", filepath.Join(root, "a/rel")))
	must(os.Symlink("nowhere", filepath.Join(root, "dangling")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o640))
	must(os.Chmod(filepath.Join(root, "a"), 0o2755))
	when := time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	for _, p := range []string{"a/b/f", "empty", "a/b", "a", "fifo"} {
		must(os.Chtimes(filepath.Join(root, p), when, when))
	}
}

// listing describes every entry under root: path, type and mode, size, mtime (ns), link
// target, link count, owner, and a file's bytes.
func listing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := fi.Sys().(*syscall.Stat_t)
		size := fi.Size()
		if fi.IsDir() {
			size = 0
		}
		line := fmt.Sprintf("%s %v %d %d %d %d:%d", rel, fi.Mode(), size, fi.ModTime().UnixNano(), st.Nlink, st.Uid, st.Gid)
		if fi.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestCopyTreeMatchesCpA(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	makeTree(t, src)
	byCp := filepath.Join(dir, "cp")
	if out, err := exec.Command("cp", "-a", src, byCp).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	var last [2]int64
	ours := filepath.Join(dir, "ours")
	r, err := zcopy.CopyTree(ours, src, zcopy.TreeOptions{
		Progress: func(b, f int64) bool { last = [2]int64{b, f}; return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Files != 3 || r.Directories != 3 || r.Symlinks != 2 || r.Specials != 1 || r.HardLinks != 1 {
		t.Errorf("report %+v", r)
	}
	if r.Bytes != 100_000+4*mib+4 || last != [2]int64{r.Bytes, r.Files} {
		t.Errorf("bytes %d, last progress %v", r.Bytes, last)
	}
	want, got := listing(t, byCp), listing(t, ours)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("the copy differs from cp -a's:\ncp -a:\n%s\nzcopy:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	// Each file's bytes in full.
	for _, p := range []string{"a/b/f", "sparse", "a/hard"} {
		a, _ := os.ReadFile(filepath.Join(src, p))
		b, _ := os.ReadFile(filepath.Join(ours, p))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs", p)
		}
	}
}

func TestCopyTreeErrors(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	makeTree(t, src)
	exists := filepath.Join(dir, "exists")
	if err := os.Mkdir(exists, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := zcopy.CopyTree(exists, src, zcopy.TreeOptions{})
	if !errors.Is(err, syscall.EEXIST) || !strings.Contains(err.Error(), "dirs_exist_ok") {
		t.Errorf("an existing destination: %v", err)
	}
	if _, err := zcopy.CopyTree(exists, src, zcopy.TreeOptions{DirsExistOK: true}); err != nil {
		t.Errorf("DirsExistOK: %v", err)
	}
	// Collected: the FIFO refused, the dangling symlink followed.
	r, err := zcopy.CopyTree(filepath.Join(dir, "collect"), src, zcopy.TreeOptions{
		FollowSymlinks: true, Specials: zcopy.SpecialsError, Errors: zcopy.TreeErrorsCollect,
	})
	var zerr *zcopy.Error
	if !errors.As(err, &zerr) || r.Errors != 2 {
		t.Fatalf("collected: %v, %+v", err, r)
	}
	for _, want := range []string{"2 entries failed", filepath.Join(src, "fifo"), filepath.Join(src, "dangling")} {
		if !strings.Contains(zerr.Message, want) {
			t.Errorf("%q not in %q", want, zerr.Message)
		}
	}
	if _, err := zcopy.CopyTree(filepath.Join(dir, "bad"), src, zcopy.TreeOptions{Specials: "ignore"}); !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("a bad policy: %v", err)
	}
	if _, err := zcopy.CopyTree(filepath.Join(dir, "bad"), src, zcopy.TreeOptions{Transfer: zcopy.Options{Len: zcopy.Int64(1)}}); !errors.Is(err, zcopy.ErrInvalid) {
		t.Errorf("a per-file len: %v", err)
	}
	// A stop from the progress callback: ErrCancelled, and no half-written file.
	big := filepath.Join(dir, "big")
	if err := os.Mkdir(big, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		f, err := os.Create(filepath.Join(big, fmt.Sprint("f", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(64 * mib); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	calls := 0
	stopped := filepath.Join(dir, "stopped")
	_, err = zcopy.CopyTree(stopped, big, zcopy.TreeOptions{
		Transfer: zcopy.Options{Strategy: zcopy.ReadWrite, ChunkSize: 4096, NoSparse: true},
		Workers:  2,
		Progress: func(b, f int64) bool { calls++; return calls < 2 },
	})
	if !errors.Is(err, zcopy.ErrCancelled) {
		t.Fatalf("a stop: %v", err)
	}
	entries, _ := os.ReadDir(stopped)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".zcopy-") {
			t.Errorf("a temporary file is left: %s", e.Name())
			continue
		}
		if fi, _ := e.Info(); fi.Size() != 64*mib {
			t.Errorf("%s is not whole: %d bytes", e.Name(), fi.Size())
		}
	}
}
