package zcopy

/*
#include <stdlib.h>
#include <zcopy.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// ToEnd, as a length, means "to end of file".
const ToEnd int64 = -1

// Advice says how a range of a file will be used (posix_fadvise).
type Advice string

// The advice names, as every face of zcopy spells them.
const (
	AdviceNormal     Advice = "normal"
	AdviceSequential Advice = "sequential"
	AdviceRandom     Advice = "random"
	AdviceWillNeed   Advice = "willneed"
	AdviceDontNeed   Advice = "dontneed"
	AdviceNoReuse    Advice = "noreuse"
)

// ResidencyInfo is how much of a range of a file is in the page cache.
type ResidencyInfo struct {
	// Pages in the range (the system page size each; the last may be partial).
	Pages int64
	// Resident pages of the range.
	Resident int64
	// Ratio is Resident / Pages (0 for an empty range).
	Ratio float64
	// Bitmap has one byte per page, 1 = resident (Residency only; nil from Evict and Warm).
	Bitmap []byte
	// Method is the kernel interface that answered: "cachestat", "mincore", "none" for a
	// descriptor without a page cache (a pipe, a socket), or "unknown" from Evict and Warm on a
	// file this process may not see the page cache of (Resident and Ratio are then 0, meaning
	// not known; the pages were dropped or read all the same).
	Method string
}

func methodName(m C.zc_method) string {
	switch m {
	case C.ZC_METHOD_CACHESTAT:
		return "cachestat"
	case C.ZC_METHOD_MINCORE:
		return "mincore"
	case C.ZC_METHOD_NONE:
		return "none"
	case C.ZC_METHOD_UNKNOWN:
		return "unknown"
	}
	return fmt.Sprintf("unknown(%d)", uint32(m))
}

func toInfo(c *C.zc_residency_info) ResidencyInfo {
	return ResidencyInfo{
		Pages:    int64(c.pages),
		Resident: int64(c.resident),
		Ratio:    float64(c.ratio),
		Method:   methodName(c.method),
	}
}

// cacheCall runs f with the descriptor of f's endpoint, a C length (nil for ToEnd) and checks
// offset and length.
func cacheCall(v interface{}, offset, length int64, f func(fd C.int, len *C.uint64_t) C.zc_status) error {
	if offset < 0 {
		return invalid(fmt.Sprintf("offset %d is negative", offset))
	}
	if length < ToEnd {
		return invalid(fmt.Sprintf("length %d is negative (ToEnd, -1, means to end of file)", length))
	}
	rc, err := rawConn(v, "fd")
	if err != nil {
		return err
	}
	var clen *C.uint64_t
	if length >= 0 {
		n := C.uint64_t(length)
		clen = &n
	}
	return control(rc, "fd", func(fd uintptr) error {
		return check(func() C.zc_status { return f(C.int(fd), clen) })
	})
}

// Residency tells how much of length bytes of f from offset (ToEnd: to end of file) is in the
// page cache, with a bitmap of the pages. A descriptor without a page cache gives Method
// "none" and 0 pages; a file the kernel cannot see truthfully (one the caller neither owns nor
// may write) gives an error wrapping ErrUnsupported rather than a false answer.
func Residency(f interface{}, offset, length int64) (ResidencyInfo, error) {
	var info C.zc_residency_info
	info.struct_size = C.size_t(unsafe.Sizeof(info))
	var bitmap []byte
	err := cacheCall(f, offset, length, func(fd C.int, clen *C.uint64_t) C.zc_status {
		// Count first, then fill a bitmap of that many pages.
		st := C.zc_status(C.zc_residency(fd, C.uint64_t(offset), clen, nil, 0, &info))
		if st != C.ZC_OK || info.pages == 0 {
			return st
		}
		buf := (*C.uint8_t)(C.malloc(C.size_t(info.pages)))
		defer C.free(unsafe.Pointer(buf))
		st = C.zc_status(C.zc_residency(fd, C.uint64_t(offset), clen, buf, C.size_t(info.pages), &info))
		bitmap = C.GoBytes(unsafe.Pointer(buf), C.int(info.pages))
		return st
	})
	if err != nil {
		return ResidencyInfo{}, err
	}
	r := toInfo(&info)
	r.Bitmap = bitmap
	return r, nil
}

// Advise tells the kernel how length bytes of f from offset (ToEnd: to end of file) will be
// used. applied is false when the descriptor has no page cache (not an error).
func Advise(f interface{}, offset, length int64, advice Advice) (applied bool, err error) {
	var a C.zc_advice
	switch advice {
	case AdviceNormal:
		a = C.ZC_ADVICE_NORMAL
	case AdviceSequential:
		a = C.ZC_ADVICE_SEQUENTIAL
	case AdviceRandom:
		a = C.ZC_ADVICE_RANDOM
	case AdviceWillNeed:
		a = C.ZC_ADVICE_WILLNEED
	case AdviceDontNeed:
		a = C.ZC_ADVICE_DONTNEED
	case AdviceNoReuse:
		a = C.ZC_ADVICE_NOREUSE
	default:
		return false, invalid(fmt.Sprintf("unknown advice %q; expected one of normal, sequential, "+
			"random, willneed, dontneed, noreuse", advice))
	}
	var ok C.bool
	err = cacheCall(f, offset, length, func(fd C.int, clen *C.uint64_t) C.zc_status {
		return C.zc_status(C.zc_advise(fd, C.uint64_t(offset), clen, a, &ok))
	})
	return bool(ok), err
}

// Readahead starts reading length bytes of f from offset (ToEnd: to end of file) into the page
// cache without waiting. applied is false when the descriptor has no page cache.
func Readahead(f interface{}, offset, length int64) (applied bool, err error) {
	var ok C.bool
	err = cacheCall(f, offset, length, func(fd C.int, clen *C.uint64_t) C.zc_status {
		return C.zc_status(C.zc_readahead(fd, C.uint64_t(offset), clen, &ok))
	})
	return bool(ok), err
}

// Evict drops length bytes of f from offset (ToEnd: to end of file) from the page cache,
// writing dirty pages back first, and tells what is still resident.
func Evict(f interface{}, offset, length int64) (ResidencyInfo, error) {
	var info C.zc_residency_info
	info.struct_size = C.size_t(unsafe.Sizeof(info))
	err := cacheCall(f, offset, length, func(fd C.int, clen *C.uint64_t) C.zc_status {
		return C.zc_status(C.zc_evict(fd, C.uint64_t(offset), clen, &info))
	})
	if err != nil {
		return ResidencyInfo{}, err
	}
	return toInfo(&info), nil
}

// Warm brings length bytes of f from offset (ToEnd: to end of file) into the page cache
// without copying them to user space, waits until they are there, and tells the residency.
func Warm(f interface{}, offset, length int64) (ResidencyInfo, error) {
	var info C.zc_residency_info
	info.struct_size = C.size_t(unsafe.Sizeof(info))
	err := cacheCall(f, offset, length, func(fd C.int, clen *C.uint64_t) C.zc_status {
		return C.zc_status(C.zc_warm(fd, C.uint64_t(offset), clen, &info))
	})
	if err != nil {
		return ResidencyInfo{}, err
	}
	return toInfo(&info), nil
}
