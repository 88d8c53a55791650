//go:build !cgo

package zcopy

// This package calls libzcopy, the C library of the Rust engine, through cgo: it cannot be
// built with cgo off (CGO_ENABLED=0, or a cross-compilation with no C compiler for the target).
// The constant below stops such a build with an error that says so:
//
//	./nocgo.go:13:15: cannot use "zcopy requires cgo and libzcopy: ..." (untyped string constant) as int value in constant declaration
//
// (fd.go and testhook_off.go, the other files without `import "C"`, build with cgo only: this
// is the only error).
const _ int = "zcopy requires cgo and libzcopy: build with CGO_ENABLED=1 and a C compiler, with libzcopy installed (bash scripts/install-c.sh; see the README's Go section)"
