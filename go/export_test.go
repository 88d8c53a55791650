package zcopy

// InjectPanic is injectPanic, for the tests of package zcopy_test.
func InjectPanic(afterBytes uint64) { injectPanic(afterBytes) }
