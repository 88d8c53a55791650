package zcopy

/*
#include <stdlib.h>
#include "zcopy.h"
*/
import "C"

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// IoModel is how a Server waits for its sockets (the I/O models); the names are the ones
// every face of zcopy uses (`zcopy serve --model`, Python's model=).
type IoModel string

// The I/O models.
const (
	// ModelThreads: blocking calls and one thread per connection (accepted by one thread).
	ModelThreads IoModel = "threads"
	// ModelPoll: non-blocking sockets, each worker trying every connection in turn, spinning
	// (with sched_yield) while every one would block.
	ModelPoll IoModel = "poll"
	// ModelEpoll: one epoll reactor per worker (edge-triggered readiness), nginx's model. The
	// default.
	ModelEpoll IoModel = "epoll"
	// ModelUring: one io_uring proactor per worker; completions drive the connections.
	ModelUring IoModel = "uring"
)

func (m IoModel) String() string { return string(m) }

// ServeOptions say how Serve serves; the zero value is the defaults.
type ServeOptions struct {
	// Listen is the address to listen on, "HOST:PORT" with a numeric host ("127.0.0.1:8080",
	// "[::1]:8080"); port 0 takes a free port (see Port). "" is "127.0.0.1:8080", as in Rust,
	// C and the CLI (Python's zcopy.Server defaults to "127.0.0.1:0").
	Listen string
	// Workers is the number of worker threads, sharing one listening socket, each with its own
	// reactor; 0 means one per CPU. ModelThreads uses one acceptor and a thread per connection.
	Workers int
	// DirectIO, when not nil, is the size (1 or more) from which files are read with O_DIRECT,
	// bypassing the page cache (nginx's directio); nil: never.
	DirectIO *int64
	// Model is the I/O model; "" is ModelEpoll.
	Model IoModel
	// HeaderTimeout is how long a client may take to send a request head (from its connection,
	// or from the first byte of a request on a kept-alive one); then the connection is closed.
	// 0 is 60 s, nginx's client_header_timeout.
	HeaderTimeout time.Duration
	// KeepaliveTimeout is how long an idle kept-alive connection is kept after its last
	// response. 0 is 75 s, nginx's keepalive_timeout.
	KeepaliveTimeout time.Duration
	// MaxConnections is the most connections one worker (ModelThreads: the server) holds at
	// once; more wait in the listen backlog while those held are served. 0 is 512, nginx's
	// worker_connections.
	MaxConnections int
	// AccessLog is where each response is logged, one line in nginx's combined format: a path
	// (the file is created or appended to), "-" for standard output (fd 1), or "" or "off"
	// (the default) for none. Each worker buffers its lines and writes them without a lock;
	// Close returns with every line written.
	AccessLog string
}

// Server is the engine's nginx-style static file server (HTTP/1.1 GET and HEAD, ranges,
// keep-alive; files below DirectIO sent with sendfile) serving one directory on background
// threads of this process (threads of libzcopy, not goroutines) until Close. It answers as
// nginx: "/dir" is redirected (301) to "/dir/", which serves its index.html or 403; file
// responses carry Date, Last-Modified and ETag ("<mtime hex>-<size hex>"); If-None-Match and
// If-Modified-Since get 304, and If-Range is honoured. It is Python's
// zcopy.Server and C's zc_server: Serve(dir, opts) is zcopy.Server(root, listen=, workers=,
// directio=, model=) and zc_server_start; Close is close() and zc_server_stop. Its methods
// may be called from several goroutines.
type Server struct {
	mu    sync.Mutex
	p     *C.zc_server
	addr  string
	port  int
	model IoModel
}

// setLimits copies the timeouts and the connection limit into o, keeping its defaults for 0.
func setLimits(o *C.zc_server_options, opts ServeOptions) error {
	if opts.HeaderTimeout < 0 || opts.KeepaliveTimeout < 0 {
		return invalid(fmt.Sprintf("HeaderTimeout %v and KeepaliveTimeout %v must not be negative (0: the defaults)", opts.HeaderTimeout, opts.KeepaliveTimeout))
	}
	if opts.HeaderTimeout > 0 {
		o.header_timeout = C.double(opts.HeaderTimeout.Seconds())
	}
	if opts.KeepaliveTimeout > 0 {
		o.keepalive_timeout = C.double(opts.KeepaliveTimeout.Seconds())
	}
	if opts.MaxConnections < 0 || uint64(opts.MaxConnections) > math.MaxUint32 {
		return invalid(fmt.Sprintf("MaxConnections %d is out of range: 0 (512) or more", opts.MaxConnections))
	}
	if opts.MaxConnections > 0 {
		o.max_connections = C.uint32_t(opts.MaxConnections)
	}
	return nil
}

// Serve serves the files in dir (and below it, never above) as opts says: the listening
// sockets are bound when it returns, and requests are served in the background until Close.
//
// Errors: one wrapping syscall.EADDRINUSE when the address is taken (by another server too,
// in this process or another: a server's workers share their socket, no one else does),
// fs.ErrNotExist (ENOENT)
// or ENOTDIR for a directory or an AccessLog that cannot be opened (the message names it), ErrInvalid for an
// unknown Model, a Listen that is not HOST:PORT, negative Workers, timeouts or
// MaxConnections, or a DirectIO below 1.
func Serve(dir string, opts ServeOptions) (*Server, error) {
	var o C.zc_server_options
	if err := check(func() C.zc_status {
		return C.zc_status(C.zc_server_options_default(&o, C.size_t(unsafe.Sizeof(o))))
	}); err != nil {
		return nil, err
	}
	model := opts.Model
	switch model {
	case "":
		model = ModelEpoll
		o.model = C.ZC_SERVE_MODEL_EPOLL
	case ModelThreads:
		o.model = C.ZC_SERVE_MODEL_THREADS
	case ModelPoll:
		o.model = C.ZC_SERVE_MODEL_POLL
	case ModelEpoll:
		o.model = C.ZC_SERVE_MODEL_EPOLL
	case ModelUring:
		o.model = C.ZC_SERVE_MODEL_URING
	default:
		return nil, invalid(fmt.Sprintf("unknown I/O model %q; expected one of threads, poll, epoll, uring", string(opts.Model)))
	}
	if opts.Workers < 0 || uint64(opts.Workers) > math.MaxUint32 {
		return nil, invalid(fmt.Sprintf("Workers %d is out of range: 0 (one per CPU) or more", opts.Workers))
	}
	o.workers = C.uint32_t(opts.Workers)
	if opts.DirectIO != nil {
		if *opts.DirectIO < 1 {
			return nil, invalid(fmt.Sprintf("DirectIO %d is out of range: 1 byte or more (nil: never)", *opts.DirectIO))
		}
		o.has_directio = C.bool(true)
		o.directio = C.uint64_t(*opts.DirectIO)
	}
	if err := setLimits(&o, opts); err != nil {
		return nil, err
	}
	if opts.Listen != "" {
		listen := C.CString(opts.Listen)
		defer C.free(unsafe.Pointer(listen))
		o.listen = listen
	}
	if opts.AccessLog != "" {
		accessLog := C.CString(opts.AccessLog)
		defer C.free(unsafe.Pointer(accessLog))
		o.access_log = accessLog
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	var p *C.zc_server
	if err := check(func() C.zc_status { return C.zc_status(C.zc_server_start(cdir, &o, &p)) }); err != nil {
		return nil, err
	}
	s := &Server{p: p, model: model}
	var buf [C.ZC_SERVER_ADDRESS_SIZE]C.char
	var port C.uint16_t
	err := check(func() C.zc_status {
		if st := C.zc_status(C.zc_server_address(p, &buf[0], C.size_t(len(buf)))); st != C.ZC_OK {
			return st
		}
		return C.zc_status(C.zc_server_port(p, &port))
	})
	if err != nil {
		C.zc_server_stop(p)
		return nil, err
	}
	s.addr = C.GoString(&buf[0])
	s.port = int(port)
	runtime.SetFinalizer(s, func(s *Server) { s.Close() })
	return s, nil
}

// Addr is the address the server listens on, "HOST:PORT" (with the port the kernel chose for
// port 0), as net.Dial takes it. It stays valid after Close.
func (s *Server) Addr() string { return s.addr }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.port }

// URL is "http://HOST:PORT", to which a file's path ("/index.html") is appended.
func (s *Server) URL() string { return "http://" + s.addr }

// Model is the I/O model the server runs.
func (s *Server) Model() IoModel { return s.model }

// Running reports whether the server is still serving: Close not called and no worker failed.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return false
	}
	var running C.bool
	if check(func() C.zc_status { return C.zc_status(C.zc_server_running(s.p, &running)) }) != nil {
		return false
	}
	return bool(running)
}

// Close stops the server, closing its listening sockets and open connections, and waits for
// its threads. It returns the error a worker stopped with, if any. Calling it again does
// nothing and returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil
	}
	p := s.p
	s.p = nil
	runtime.SetFinalizer(s, nil)
	return check(func() C.zc_status { return C.zc_status(C.zc_server_stop(p)) })
}

func (s *Server) String() string {
	state := "closed"
	if s.Running() {
		state = "running"
	}
	return fmt.Sprintf("zcopy.Server %s model=%s %s", s.URL(), s.model, state)
}
