//go:build cgo

package zcopy

import (
	"fmt"
	"syscall"
)

// FD is a raw file descriptor the caller owns, for descriptors that have no Go object (one
// inherited, or from a C library). It is used as it is: a non-blocking FD that would block
// gives an error wrapping syscall.EAGAIN (there is no poller to wait with).
type FD int

// SyscallConn makes an FD a syscall.Conn.
func (fd FD) SyscallConn() (syscall.RawConn, error) { return fdConn(fd), nil }

type fdConn int

func (c fdConn) Control(f func(fd uintptr)) error { f(uintptr(c)); return nil }

func (c fdConn) Read(f func(fd uintptr) bool) error {
	if !f(uintptr(c)) {
		return fmt.Errorf("fd %d is not managed by the Go runtime's poller", int(c))
	}
	return nil
}

func (c fdConn) Write(f func(fd uintptr) bool) error { return c.Read(f) }

// rawConn gets the syscall.RawConn of an endpoint: *os.File, *net.TCPConn, *net.UnixConn and
// every syscall.Conn, or an FD.
func rawConn(v interface{}, role string) (syscall.RawConn, error) {
	sc, ok := v.(syscall.Conn)
	if !ok || sc == nil {
		return nil, invalid(fmt.Sprintf(
			"%s is %T, which has no file descriptor: pass an *os.File, a net.Conn from package "+
				"net, a syscall.Conn or a zcopy.FD", role, v))
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, &Error{Kind: KindIO, Errno: syscall.EBADF,
			Message: fmt.Sprintf("%s: %v", role, err), cause: err}
	}
	return rc, nil
}

// control runs f with the descriptor of c, which stays open (a concurrent Close waits) for the
// duration; a descriptor already closed is an error wrapping EBADF.
func control(c syscall.RawConn, role string, f func(fd uintptr) error) error {
	var ferr error
	if err := c.Control(func(fd uintptr) { ferr = f(fd) }); err != nil {
		return &Error{Kind: KindIO, Errno: syscall.EBADF,
			Message: fmt.Sprintf("%s: %v", role, err), cause: err}
	}
	return ferr
}
