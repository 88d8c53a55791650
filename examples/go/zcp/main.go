// zcp copies a file, or a file to a loopback TCP peer, with zcopy and prints what it cost.
//
//	zcp [-strategy S] [-no-fallback] SRC DST     copy SRC to DST
//	zcp -serve SRC                                send SRC over loopback TCP to a reader in this process
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"zcopy.dev/zcopy"
)

func main() {
	strategy := flag.String("strategy", "auto", "technique: "+fmt.Sprint(zcopy.Strategies()))
	noFallback := flag.Bool("no-fallback", false, "exactly -strategy, or fail")
	serve := flag.Bool("serve", false, "send SRC over loopback TCP instead of copying it")
	flag.Parse()
	opts := zcopy.Options{Strategy: zcopy.Strategy(*strategy), NoFallback: *noFallback}

	var report zcopy.Report
	var err error
	switch {
	case *serve && flag.NArg() == 1:
		report, err = sendOverTCP(flag.Arg(0), opts)
	case !*serve && flag.NArg() == 2:
		report, err = zcopy.CopyFile(flag.Arg(1), flag.Arg(0), opts)
	default:
		flag.Usage()
		os.Exit(2)
	}
	for _, f := range report.Fallbacks {
		fmt.Fprintf(os.Stderr, "tried %-16s %s\n", f.Strategy, f.Reason)
	}
	fmt.Fprintf(os.Stderr, "%d bytes by %s in %v, %d syscalls, %d mode switches\n",
		report.Bytes, report.Strategy, report.Elapsed(), report.Syscalls, report.ModeSwitches)
	if err != nil {
		var zerr *zcopy.Error
		if errors.As(err, &zerr) {
			fmt.Fprintf(os.Stderr, "zcp: %v (%s, errno %d, after %d bytes)\n", err, zerr.Kind, zerr.Errno, zerr.BytesMoved)
		} else {
			fmt.Fprintln(os.Stderr, "zcp:", err)
		}
		os.Exit(1)
	}
}

// sendOverTCP sends the file at path to a reader on 127.0.0.1 and checks it got every byte.
func sendOverTCP(path string, opts zcopy.Options) (zcopy.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return zcopy.Report{}, err
	}
	defer f.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return zcopy.Report{}, err
	}
	defer l.Close()
	received := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			received <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		received <- n
	}()
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return zcopy.Report{}, err
	}
	report, err := zcopy.Transfer(conn, f, opts)
	conn.Close()
	if n := <-received; err == nil && n != report.Bytes {
		return report, fmt.Errorf("the reader got %d bytes, the report says %d", n, report.Bytes)
	}
	return report, err
}
