package zcopy

/*
#include <zcopy.h>
*/
import "C"

import "unsafe"

// Choice is what Auto would do for a pair of descriptors, as AutoChoice tells it.
type Choice struct {
	// Order is the techniques Auto tries, in order (it falls back along this list).
	Order []Strategy
	// First is the first of them the pair supports (as Probe judges it): what Auto runs
	// first; "" when none does.
	First Strategy
	// Why is the rule that chose the order, in one sentence: with the size, the kinds of file
	// and the filesystems that decided, and why Auto starts further down when the head of the
	// order cannot serve the pair.
	Why string
}

// AutoChoice tells what Auto would do for src -> dst (io.Copy's order of arguments) with opts
// (its Strategy taken as Auto, fallback allowed), without moving a byte: the order of
// techniques it tries, the first one the pair supports and why. The offsets, Len and
// DirectThreshold of opts count, as they do for Transfer, whose Report's Strategy is then
// First unless that technique refuses at run time. Endpoints are as for Transfer; the error
// is an *Error as Probe's.
func AutoChoice(dst, src interface{}, opts Options) (Choice, error) {
	srcConn, err := rawConn(src, "src")
	if err != nil {
		return Choice{}, err
	}
	dstConn, err := rawConn(dst, "dst")
	if err != nil {
		return Choice{}, err
	}
	opts.Progress = nil
	copts, err := cOptions(opts)
	if err != nil {
		return Choice{}, err
	}
	var c C.zc_auto_choice_info
	c.struct_size = C.size_t(unsafe.Sizeof(c))
	err = control(srcConn, "src", func(sfd uintptr) error {
		return control(dstConn, "dst", func(dfd uintptr) error {
			return check(func() C.zc_status {
				return C.zc_status(C.zc_auto_choice(C.int(sfd), C.int(dfd), &copts, &c))
			})
		})
	})
	if err != nil {
		return Choice{}, err
	}
	var out Choice
	n := int(c.order_len)
	if n > len(c.order) {
		n = len(c.order)
	}
	for _, s := range c.order[:n] {
		out.Order = append(out.Order, strategyName(s))
	}
	if bool(c.has_first) {
		out.First = strategyName(c.first)
	}
	out.Why = C.GoString(&c.why[0])
	return out, nil
}
