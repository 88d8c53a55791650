package zcopy

/*
#include <stdint.h>
// The test-only panic hook of libzcopy (ffi-c/src/testing.rs), left out of zcopy.h on purpose.
extern void zc_test_inject_panic(uint64_t after_bytes);
*/
import "C"

// injectPanic makes the next transfer on the calling OS thread panic inside the engine once it
// has moved afterBytes bytes. Only the tests use it (through export_test.go): a panic inside
// libzcopy must come back as an *Error of KindPanic, never reach Go.
func injectPanic(afterBytes uint64) { C.zc_test_inject_panic(C.uint64_t(afterBytes)) }
