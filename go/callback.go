package zcopy

/*
#include <stdbool.h>
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// zcgoProgress is the C progress callback of every transfer with a Progress function or a
// context: user is the cgo.Handle of its progressState. It runs on the thread that called
// zc_transfer, inside that call.
//
//export zcgoProgress
func zcgoProgress(moved C.uint64_t, user unsafe.Pointer) C.bool {
	p, ok := cgo.Handle(uintptr(user)).Value().(*progressState)
	if !ok {
		return false
	}
	return C.bool(p.call(int64(moved)))
}
