package zcopy

/*
#include <stdbool.h>
*/
import "C"

import (
	"runtime/cgo"
	"syscall"
	"unsafe"
)

// filesState is what zcgoFilesEach reaches through its cgo.Handle: the walk being filled.
type filesState struct {
	walk *FileWalk
}

// zcgoFilesEach is the C function zc_files calls for each file found (msg NULL) and each path
// that could not be read (code its errno, msg its message): user is the cgo.Handle of a
// filesState. It runs inside that call, on the calling thread.
//
//export zcgoFilesEach
func zcgoFilesEach(path *C.char, code C.int, msg *C.char, user unsafe.Pointer) C.bool {
	s, ok := cgo.Handle(uintptr(user)).Value().(*filesState)
	if !ok {
		return false
	}
	p := C.GoString(path)
	if msg == nil {
		s.walk.Files = append(s.walk.Files, p)
		return true
	}
	s.walk.Errors = append(s.walk.Errors, FileError{Path: p, Err: &Error{
		Kind: KindIO, Errno: syscall.Errno(code), Message: C.GoString(msg)}})
	return true
}
