package zcopy

/*
#include <zcopy.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
)

// Kind is what kind of failure an Error is: the same kinds as the engine's and the C zc_status.
type Kind int

// The kinds of failure.
const (
	// KindIO is an OS failure; Error.Errno says why (EPIPE, ENOSPC, EBADF, ...).
	KindIO Kind = iota + 1
	// KindUnsupported: the technique asked for cannot serve the pair (NoFallback), or none can.
	KindUnsupported
	// KindCancelled: the progress callback or the context stopped the transfer.
	KindCancelled
	// KindInvalid: an argument was wrong (an impossible offset, an unknown name, a descriptor
	// opened the wrong way).
	KindInvalid
	// KindPanic: libzcopy panicked (a bug in zcopy); the panic did not reach Go.
	KindPanic
)

func (k Kind) String() string {
	switch k {
	case KindIO:
		return "I/O error"
	case KindUnsupported:
		return "unsupported"
	case KindCancelled:
		return "cancelled"
	case KindInvalid:
		return "invalid argument"
	case KindPanic:
		return "panic in libzcopy"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Sentinel errors for the kinds, for errors.Is: errors.Is(err, zcopy.ErrUnsupported).
var (
	ErrUnsupported = errors.New("zcopy: unsupported")
	ErrCancelled   = errors.New("zcopy: cancelled")
	ErrInvalid     = errors.New("zcopy: invalid argument")
	ErrPanic       = errors.New("zcopy: panic in libzcopy")
)

// Error is a failed zcopy call: its kind, the errno behind it, a message naming what was wrong,
// and the bytes already moved (the destination holds exactly those bytes from where the
// transfer began).
//
// errors.Is(err, syscall.EPIPE) (or any errno, and the os/fs sentinels such as
// fs.ErrNotExist) and errors.Is(err, ErrCancelled) (or ErrUnsupported, ErrInvalid) work;
// errors.As(err, &errno) gives the syscall.Errno.
type Error struct {
	Kind       Kind
	Errno      syscall.Errno
	Message    string
	BytesMoved int64
	// Report is what the failed transfer did up to the failure (zero for other calls).
	Report Report
	cause  error // a context's error, or what waiting for a descriptor returned
}

func (e *Error) Error() string { return "zcopy: " + e.Message }

// Unwrap gives the errno (nil when there is none).
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// Is reports whether target is this error's kind sentinel, its errno (or an error its errno
// is, such as fs.ErrNotExist for ENOENT), or what caused it (context.Canceled, a deadline).
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnsupported:
		return e.Kind == KindUnsupported
	case ErrCancelled:
		return e.Kind == KindCancelled
	case ErrInvalid:
		return e.Kind == KindInvalid
	case ErrPanic:
		return e.Kind == KindPanic
	}
	if e.Errno != 0 && (target == error(e.Errno) || e.Errno.Is(target)) {
		return true
	}
	return e.cause != nil && errors.Is(e.cause, target)
}

func kindOf(st C.zc_status) Kind {
	switch st {
	case C.ZC_UNSUPPORTED:
		return KindUnsupported
	case C.ZC_CANCELLED:
		return KindCancelled
	case C.ZC_INVALID, C.ZC_NULL_POINTER:
		return KindInvalid
	case C.ZC_PANIC:
		return KindPanic
	}
	return KindIO
}

func newError(st C.zc_status, errno C.int, msg string, r Report) *Error {
	return &Error{
		Kind:       kindOf(st),
		Errno:      syscall.Errno(errno),
		Message:    msg,
		BytesMoved: r.Bytes,
		Report:     r,
	}
}

func invalid(msg string) *Error {
	return &Error{Kind: KindInvalid, Errno: syscall.EINVAL, Message: msg}
}

func cancelledBy(cause error, moved int64) *Error {
	return &Error{
		Kind:       KindCancelled,
		Errno:      syscall.ECANCELED,
		Message:    "transfer cancelled: " + cause.Error(),
		BytesMoved: moved,
		cause:      cause,
	}
}

// cCall runs f (a call into libzcopy) and, when it fails, reads the thread's last error on the
// same OS thread (the goroutine is locked to it for the call).
func cCall(f func() C.zc_status) (st C.zc_status, errno C.int, msg string) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st = f()
	if st != C.ZC_OK {
		errno, msg = C.zc_last_errno(), C.GoString(C.zc_last_error())
	}
	return st, errno, msg
}

// check runs f as cCall does and turns a failure into an *Error.
func check(f func() C.zc_status) error {
	st, errno, msg := cCall(f)
	if st != C.ZC_OK {
		return newError(st, errno, msg, Report{})
	}
	return nil
}
