//go:build cgo && !zcopy_static

package zcopy

// The shared library, libzcopy.so.1, found through pkg-config's zcopy.pc (scripts/install-c.sh
// installs it). Build with `-tags zcopy_static` to link libzcopy.a instead (link_static.go).

// #cgo pkg-config: zcopy
import "C"
