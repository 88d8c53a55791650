//go:build cgo && zcopy_testing

package zcopy

/*
#include <stdint.h>
// The test-only panic hooks of libzcopy (ffi-c/src/testing.rs), left out of zcopy.h on purpose
// and built only with its cargo feature `testing` (scripts/install-c.sh --testing): a released
// libzcopy has none, so only the tag zcopy_testing (scripts/test-go.sh) declares them.
extern void zc_test_inject_panic(uint64_t after_bytes);
extern void zc_test_inject_worker_panic(void);
*/
import "C"

// panicHooks says whether this build can inject panics (the tag zcopy_testing).
const panicHooks = true

// injectPanic makes the next transfer on the calling OS thread panic inside the engine once it
// has moved afterBytes bytes. Only the tests use it (through export_test.go): a panic inside
// libzcopy must come back as an *Error of KindPanic, never reach Go.
func injectPanic(afterBytes uint64) { C.zc_test_inject_panic(C.uint64_t(afterBytes)) }

// injectWorkerPanic makes the first worker of the next server started panic as it starts:
// Close must then return an *Error of KindPanic.
func injectWorkerPanic() { C.zc_test_inject_worker_panic() }
