package zcopy_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"zcopy.dev/zcopy"
)

// Send a file over a loopback TCP connection: Auto picks sendfile, and the Report says what it
// cost.
func Example() {
	dir, _ := os.MkdirTemp("", "zcopy-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "hello.txt")
	os.WriteFile(path, []byte("hello, zero-copy\n"), 0o644)
	file, _ := os.Open(path)
	defer file.Close()

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	done := make(chan struct{})
	go func() {
		c, _ := l.Accept()
		io.Copy(os.Stdout, c) // the receiving end
		c.Close()
		close(done)
	}()
	conn, _ := net.Dial("tcp", l.Addr().String())

	report, err := zcopy.Transfer(conn, file, zcopy.Options{})
	var zerr *zcopy.Error
	if errors.As(err, &zerr) {
		fmt.Println("failed after", zerr.BytesMoved, "bytes:", err)
	}
	conn.Close()
	<-done
	fmt.Println(report.Bytes, "bytes by", report.Strategy)
	// Output:
	// hello, zero-copy
	// 17 bytes by sendfile
}
