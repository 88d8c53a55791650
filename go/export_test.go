package zcopy

// InjectPanic is injectPanic, for the tests of package zcopy_test.
func InjectPanic(afterBytes uint64) { injectPanic(afterBytes) }

// InjectWorkerPanic is injectWorkerPanic, for the tests of package zcopy_test.
func InjectWorkerPanic() { injectWorkerPanic() }

// PanicHooks says whether the panic hooks are built in (the tag zcopy_testing, with a libzcopy
// built with its cargo feature `testing`, as scripts/test-go.sh does).
const PanicHooks = panicHooks
