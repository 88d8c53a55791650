//go:build cgo && !zcopy_testing

package zcopy

// Without the tag zcopy_testing (any build against a released libzcopy, which has no test
// hooks): the tests that inject panics skip, saying why.

// panicHooks says whether this build can inject panics (the tag zcopy_testing).
const panicHooks = false

func injectPanic(uint64) {}

func injectWorkerPanic() {}
