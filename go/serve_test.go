package zcopy_test

// zcopy.Serve from Go, checked with net/http's client: byte-exact bodies on every I/O model,
// HEAD, ranges, 404, O_DIRECT above a threshold, the errors (EADDRINUSE, also for a second
// server in every model, a missing directory, bad options), the header and keep-alive
// timeouts and 1,000 idle connections; nginx's answers (validators, 304, 301) and the
// combined access log.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"zcopy.dev/zcopy"
)

var models = []zcopy.IoModel{zcopy.ModelThreads, zcopy.ModelPoll, zcopy.ModelEpoll, zcopy.ModelUring}

// modelsHere is models without ModelUring when this machine does not run io_uring (Probe's
// answer for a file -> file pair), saying so.
func modelsHere(t *testing.T) []zcopy.IoModel {
	t.Helper()
	src := tempFile(t, "probe.src", data(9, 4096))
	dst := createFile(t, "probe.dst")
	sup, err := zcopy.Probe(dst, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sup {
		if s.Strategy == zcopy.IoUring && !s.Supported {
			t.Logf("skipped: the uring model: io_uring is unavailable here (%s)", s.Reason)
			return models[:3]
		}
	}
	return models
}

// wwwDir makes a directory with f (1 MiB + 17 bytes), big (3 MiB + 123) and small.txt.
func wwwDir(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"f":         data(1, mib+17),
		"big":       data(2, 3*mib+123),
		"small.txt": data(3, 1000),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func serve(t *testing.T, dir string, opts zcopy.ServeOptions) (*zcopy.Server, *http.Client) {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	s, err := zcopy.Serve(dir, opts)
	if err != nil {
		t.Fatalf("Serve(%+v): %v", opts, err)
	}
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, &http.Client{Transport: tr}
}

// fetch sends method path (with a Range header when rng is not "") and returns the status,
// the response and the body.
func fetch(t *testing.T, c *http.Client, method, url, rng string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp, body
}

func TestServeEveryModel(t *testing.T) {
	dir, files := wwwDir(t)
	for _, m := range modelsHere(t) {
		t.Run(string(m), func(t *testing.T) {
			s, c := serve(t, dir, zcopy.ServeOptions{Workers: 2, Model: m})
			if s.Model() != m || !s.Running() {
				t.Fatalf("model %s, running %v", s.Model(), s.Running())
			}
			// Twice over one keep-alive connection, then the other files.
			for i := 0; i < 2; i++ {
				resp, body := fetch(t, c, "GET", s.URL()+"/f", "")
				if resp.StatusCode != 200 || resp.ContentLength != int64(len(files["f"])) {
					t.Fatalf("GET /f: %s, Content-Length %d", resp.Status, resp.ContentLength)
				}
				same(t, "GET /f", body, files["f"])
			}
			resp, body := fetch(t, c, "GET", s.URL()+"/small.txt", "")
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Fatalf("GET /small.txt: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
			}
			same(t, "GET /small.txt", body, files["small.txt"])
			resp, body = fetch(t, c, "HEAD", s.URL()+"/big", "")
			if resp.StatusCode != 200 || resp.ContentLength != int64(len(files["big"])) || len(body) != 0 {
				t.Fatalf("HEAD /big: %s, Content-Length %d, %d body bytes", resp.Status, resp.ContentLength, len(body))
			}
			resp, body = fetch(t, c, "GET", s.URL()+"/f", "bytes=1000-70999")
			if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 1000-70999/1048593" {
				t.Fatalf("a range: %s, %q", resp.Status, resp.Header.Get("Content-Range"))
			}
			same(t, "bytes 1000-70999", body, files["f"][1000:71000])
			resp, body = fetch(t, c, "GET", s.URL()+"/f", "bytes=-17")
			if resp.StatusCode != 206 {
				t.Fatalf("a suffix range: %s", resp.Status)
			}
			same(t, "the last 17 bytes", body, files["f"][len(files["f"])-17:])
			resp, _ = fetch(t, c, "GET", s.URL()+"/nope", "")
			if resp.StatusCode != 404 {
				t.Fatalf("GET /nope: %s", resp.Status)
			}
		})
	}
}

func TestServeDirectIO(t *testing.T) {
	dir, files := wwwDir(t)
	for _, m := range modelsHere(t) {
		t.Run(string(m), func(t *testing.T) {
			s, c := serve(t, dir, zcopy.ServeOptions{Workers: 1, Model: m, DirectIO: zcopy.Int64(mib)})
			for _, name := range []string{"big", "f", "small.txt"} { // above, above, below
				resp, body := fetch(t, c, "GET", s.URL()+"/"+name, "")
				if resp.StatusCode != 200 {
					t.Fatalf("GET /%s: %s", name, resp.Status)
				}
				same(t, "GET /"+name, body, files[name])
			}
			resp, body := fetch(t, c, "GET", s.URL()+"/big", "bytes=4097-2000000")
			if resp.StatusCode != 206 {
				t.Fatalf("a range by O_DIRECT: %s", resp.Status)
			}
			same(t, "an unaligned range by O_DIRECT", body, files["big"][4097:2000001])
		})
	}
}

func TestServeAddrAndClose(t *testing.T) {
	dir, _ := wwwDir(t)
	s, err := zcopy.Serve(dir, zcopy.ServeOptions{Listen: "127.0.0.1:0", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Port() == 0 || s.Addr() != "127.0.0.1:"+strconv.Itoa(s.Port()) || s.URL() != "http://"+s.Addr() {
		t.Fatalf("Addr %q, Port %d, URL %q", s.Addr(), s.Port(), s.URL())
	}
	if s.Model() != zcopy.ModelEpoll || !strings.Contains(s.String(), "running") {
		t.Fatalf("the default model %s; %s", s.Model(), s)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if s.Running() || s.Addr() == "" {
		t.Fatalf("after Close: running %v, Addr %q", s.Running(), s.Addr())
	}
	// Closed means closed: nobody listens there any more.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := c.Get(s.URL() + "/f"); err == nil {
		resp.Body.Close()
		t.Fatalf("a closed server answered %s", resp.Status)
	}
	// Many servers started and closed in turn.
	here := modelsHere(t)
	for i := 0; i < 12; i++ {
		s, err := zcopy.Serve(dir, zcopy.ServeOptions{Listen: "127.0.0.1:0", Workers: 1, Model: here[i%len(here)]})
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: Close: %v", i, err)
		}
	}
}

func TestServeErrors(t *testing.T) {
	dir, _ := wwwDir(t)
	first, _ := serve(t, dir, zcopy.ServeOptions{Model: zcopy.ModelThreads})
	_, err := zcopy.Serve(dir, zcopy.ServeOptions{Listen: first.Addr(), Model: zcopy.ModelThreads})
	var zerr *zcopy.Error
	if !errors.Is(err, syscall.EADDRINUSE) || !errors.As(err, &zerr) || zerr.Kind != zcopy.KindIO ||
		!strings.Contains(err.Error(), first.Addr()) {
		t.Fatalf("a second server on %s: %v", first.Addr(), err)
	}
	missing := filepath.Join(dir, "missing")
	_, err = zcopy.Serve(missing, zcopy.ServeOptions{Listen: "127.0.0.1:0"})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing directory: %v", err)
	}
	_, err = zcopy.Serve(filepath.Join(dir, "f"), zcopy.ServeOptions{Listen: "127.0.0.1:0"})
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("a file as the directory: %v", err)
	}
	bad := []struct {
		opts zcopy.ServeOptions
		want string
	}{
		{zcopy.ServeOptions{Model: "select"}, `unknown I/O model "select"`},
		{zcopy.ServeOptions{Listen: "nonsense"}, `listen "nonsense"`},
		{zcopy.ServeOptions{Listen: "localhost:80"}, "numeric host"},
		{zcopy.ServeOptions{Workers: -1}, "Workers -1"},
		{zcopy.ServeOptions{DirectIO: zcopy.Int64(0)}, "DirectIO 0"},
		{zcopy.ServeOptions{HeaderTimeout: -time.Second}, "HeaderTimeout -1s"},
		{zcopy.ServeOptions{MaxConnections: -1}, "MaxConnections -1"},
	}
	for _, b := range bad {
		_, err := zcopy.Serve(dir, b.opts)
		if !errors.Is(err, zcopy.ErrInvalid) || !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("Serve(%+v): %v, expected ErrInvalid naming %q", b.opts, err, b.want)
		}
	}
}

// Issue 15: a panic in a server worker (a bug) came back as KindInvalid. It is KindPanic, in
// every model, and the other worker stops with it.
func TestServeWorkerPanicIsKindPanic(t *testing.T) {
	skipWithoutPanicHooks(t)
	dir, _ := wwwDir(t)
	for _, m := range modelsHere(t) {
		zcopy.InjectWorkerPanic()
		s, err := zcopy.Serve(dir, zcopy.ServeOptions{Listen: "127.0.0.1:0", Workers: 2, Model: m})
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		err = s.Close()
		var zerr *zcopy.Error
		if !errors.As(err, &zerr) || zerr.Kind != zcopy.KindPanic || !errors.Is(err, zcopy.ErrPanic) ||
			!strings.Contains(err.Error(), "injected panic in a server worker") {
			t.Errorf("%s: Close after a worker panic: %v, expected KindPanic", m, err)
		}
	}
}

// Issue 14, case 8: with SO_REUSEPORT a second server on a served address started and took
// half the connections. Every model against every model: EADDRINUSE.
func TestServeSecondServerIsEADDRINUSE(t *testing.T) {
	dir, files := wwwDir(t)
	for _, m := range modelsHere(t) {
		first, c := serve(t, dir, zcopy.ServeOptions{Workers: 2, Model: m})
		for _, m2 := range modelsHere(t) {
			_, err := zcopy.Serve(dir, zcopy.ServeOptions{Listen: first.Addr(), Workers: 2, Model: m2})
			var zerr *zcopy.Error
			if !errors.Is(err, syscall.EADDRINUSE) || !errors.As(err, &zerr) || zerr.Kind != zcopy.KindIO {
				t.Errorf("%s then %s on %s: %v", m, m2, first.Addr(), err)
			}
		}
		if _, body := fetch(t, c, "GET", first.URL()+"/small.txt", ""); !bytes.Equal(body, files["small.txt"]) {
			t.Errorf("%s: the first server no longer serves the exact bytes", m)
		}
	}
}

// untilClosed reads from c until the server closes it (EOF or reset), writing a byte every
// 100 ms when trickle; how long that took. Fails the test after 20 s.
func untilClosed(t *testing.T, c net.Conn, trickle bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	buf := make([]byte, 4096)
	for time.Since(t0) < 20*time.Second {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Read(buf)
		if n > 0 {
			t.Fatalf("unexpected bytes %q", buf[:n])
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			return time.Since(t0) // EOF or a reset: closed
		}
		if trickle {
			if _, err := c.Write([]byte("x")); err != nil {
				return time.Since(t0)
			}
		}
	}
	t.Fatal("the server kept the connection for 20 s")
	return 0
}

// HeaderTimeout 1 s closes a client trickling its head; KeepaliveTimeout 1 s closes a
// kept-alive connection idle after its response; 1,000 idle connections do not stop a new
// client from being served. In every model.
func TestServeTimeoutsAndIdleConnections(t *testing.T) {
	dir, files := wwwDir(t)
	for _, m := range modelsHere(t) {
		t.Run(string(m), func(t *testing.T) {
			s, c := serve(t, dir, zcopy.ServeOptions{Workers: 2, Model: m, HeaderTimeout: time.Second,
				KeepaliveTimeout: time.Second, MaxConnections: 2000})
			slow, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			slow.Write([]byte("GET /small.txt HTTP/1.1\r\nX-Slow: "))
			if took := untilClosed(t, slow, true); took < 900*time.Millisecond {
				t.Errorf("slow head closed after %v", took)
			}
			idle, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer idle.Close()
			idle.Write([]byte("GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n"))
			resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if !bytes.Equal(body, files["small.txt"]) {
				t.Fatal("the kept-alive response's body differs")
			}
			if took := untilClosed(t, idle, false); took < 900*time.Millisecond {
				t.Errorf("idle keep-alive closed after %v", took)
			}
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := 0; i < 1000; i++ {
				c, err := net.Dial("tcp", s.Addr())
				if err != nil {
					t.Skipf("skipped: only %d connections could be made: %v", i, err)
				}
				conns = append(conns, c)
			}
			if _, body := fetch(t, c, "GET", s.URL()+"/small.txt", ""); !bytes.Equal(body, files["small.txt"]) {
				t.Error("not served beside 1,000 idle connections")
			}
		})
	}
}

// Serve a directory over HTTP on a free port, fetch a file with net/http, stop.
func ExampleServe() {
	dir, _ := os.MkdirTemp("", "zcopy-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello, sendfile\n"), 0o644)

	srv, err := zcopy.Serve(dir, zcopy.ServeOptions{Listen: "127.0.0.1:0", Model: zcopy.ModelEpoll})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	resp, err := http.Get(srv.URL() + "/hello.txt")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, ": ", string(bytes.TrimSpace(body)), "\n")
	// Output: 200 OK: hello, sendfile
}

// TestServeNginxAnswersAndAccessLog: ETag and Last-Modified from the file's stat, 304 for
// If-None-Match, 301 for a directory, and one combined log line per response, all written when
// Close returns, in every model.
func TestServeNginxAnswersAndAccessLog(t *testing.T) {
	dir, files := wwwDir(t)
	mtime := time.Unix(784111777, 0)
	if err := os.Chtimes(filepath.Join(dir, "small.txt"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	etag := fmt.Sprintf("\"%x-%x\"", 784111777, 1000)
	for _, m := range modelsHere(t) {
		logPath := filepath.Join(t.TempDir(), "access.log")
		s, _ := serve(t, dir, zcopy.ServeOptions{Model: m, Workers: 2, AccessLog: logPath})
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		do := func(path string, header map[string]string) (*http.Response, []byte) {
			req, err := http.NewRequest("GET", s.URL()+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s GET %s: %v", m, path, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return resp, body
		}
		resp, body := do("/small.txt", map[string]string{"User-Agent": "go-test"})
		if resp.StatusCode != 200 || !bytes.Equal(body, files["small.txt"]) {
			t.Fatalf("%s: %d, %d bytes", m, resp.StatusCode, len(body))
		}
		if got := resp.Header.Get("ETag"); got != etag {
			t.Errorf("%s: ETag %s, want %s", m, got, etag)
		}
		if got := resp.Header.Get("Last-Modified"); got != "Sun, 06 Nov 1994 08:49:37 GMT" {
			t.Errorf("%s: Last-Modified %s", m, got)
		}
		if d, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(d).Abs() > 5*time.Second {
			t.Errorf("%s: Date %q: %v", m, resp.Header.Get("Date"), err)
		}
		if resp, body := do("/small.txt", map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 || len(body) != 0 {
			t.Errorf("%s: If-None-Match: %d with %d bytes", m, resp.StatusCode, len(body))
		}
		if resp, _ := do("/sub", nil); resp.StatusCode != 301 || resp.Header.Get("Location") != "/sub/" {
			t.Errorf("%s: /sub: %d to %q", m, resp.StatusCode, resp.Header.Get("Location"))
		}
		client.CloseIdleConnections()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		text, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("%s: %d lines:\n%s", m, len(lines), text)
		}
		for _, want := range []string{
			"] \"GET /small.txt HTTP/1.1\" 200 1000 \"-\" \"go-test\"",
			"] \"GET /small.txt HTTP/1.1\" 304 0 \"-\" \"Go-http-client/1.1\"",
			"] \"GET /sub HTTP/1.1\" 301 ",
		} {
			if !strings.Contains(string(text), want) {
				t.Errorf("%s: no %q in\n%s", m, want, text)
			}
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, "127.0.0.1 - - [") {
				t.Errorf("%s: %q", m, l)
			}
		}
	}
}
