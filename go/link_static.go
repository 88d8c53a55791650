//go:build cgo && zcopy_static

package zcopy

// With `-tags zcopy_static`: libzcopy.a and the system libraries it needs, through
// `pkg-config --static zcopy-static` (scripts/install-c.sh installs zcopy-static.pc). The program
// then needs nothing of zcopy at run time; it still links the C library dynamically, as every
// cgo program does unless told otherwise.

// #cgo pkg-config: --static zcopy-static
import "C"
