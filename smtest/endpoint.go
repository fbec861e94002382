package smtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

// The limits of a connection to Server and Agent: a client that sends a
// request's header or body slower than this, or leaves a keep-alive
// connection idle longer, is disconnected.
const (
	// headerTimeout bounds the reading of a request's header.
	headerTimeout = 10 * time.Second
	// bodyTimeout bounds the reading of a request's body, from the end of
	// its header. A request whose body is not in by then is answered 408
	// Request Timeout, and its connection closed.
	bodyTimeout = 10 * time.Second
	// idleTimeout is how long a keep-alive connection may wait for its
	// next request. The clients of Server.Client and Server.Config close
	// their idle connections sooner, so that none is reused as the server
	// closes it.
	idleTimeout = 30 * time.Second
)

// maxHeaderBytes bounds a request's header (net/http answers 431 beyond).
const maxHeaderBytes = 64 << 10

// connLimits are the timeouts of an endpoint's connections.
type connLimits struct {
	header, body, idle time.Duration
}

var defaultLimits = connLimits{header: headerTimeout, body: bodyTimeout, idle: idleTimeout}

// endpoint is an HTTP server on one address that can stop listening, listen
// there again, and be closed for good: the serving part of Server and
// Agent. Its owner guards it with a mutex.
type endpoint struct {
	addr    string
	handler http.Handler
	limits  connLimits
	hs      *http.Server // nil while not listening
	ln      net.Listener // the listener hs serves
	closed  bool
}

// serve serves the handler on ln.
func (e *endpoint) serve(ln net.Listener) {
	l := e.limits
	if l == (connLimits{}) {
		l = defaultLimits
	}
	hs := &http.Server{
		Handler:           bodyFirst{e.handler, l.body},
		ReadHeaderTimeout: l.header,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	e.hs, e.ln = hs, ln
	go func() { _ = hs.Serve(ln) }()
}

// bodyFirst reads a request's body, at most maxBodyBytes+1 bytes within
// timeout, before the handler runs; the handler reads it from memory (a
// body of maxBodyBytes+1 bytes is too long: the rest of it is left unread,
// and the connection is closed after the answer). A body that is not in by
// the deadline is answered 408 Request Timeout, one that cannot be read
// 400, and the connection is closed.
type bodyFirst struct {
	next    http.Handler
	timeout time.Duration
}

func (b bodyFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(b.timeout))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		w.Header().Set("Connection", "close")
		status := http.StatusBadRequest
		if errors.Is(err, os.ErrDeadlineExceeded) {
			status = http.StatusRequestTimeout
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	// No deadline while the handler runs: once the body is read, net/http
	// watches the connection to cancel the request's context when the
	// client goes away, and a deadline would cancel it too.
	_ = rc.SetReadDeadline(time.Time{})
	if len(body) > maxBodyBytes {
		w.Header().Set("Connection", "close")
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	b.next.ServeHTTP(w, r)
}

func (e *endpoint) listening() bool { return e.hs != nil }

// stop closes the listener and every open and idle connection; it reports
// whether the endpoint was listening.
func (e *endpoint) stop() bool {
	if e.hs == nil {
		return false
	}
	// hs.Close closes only the listeners Serve has registered: if the Serve
	// goroutine has not run yet, the socket would still accept dials into
	// its backlog and reset them later. Close it here, at once.
	_ = e.ln.Close()
	_ = e.hs.Close()
	e.hs, e.ln = nil, nil
	return true
}

// restart listens again on the same address, unless the endpoint is closed
// or listening; it reports whether it did. It panics if the address cannot
// be bound again within a few seconds (who names the caller).
func (e *endpoint) restart(who string) bool {
	if e.closed || e.hs != nil {
		return false
	}
	var (
		ln  net.Listener
		err error
	)
	for deadline := time.Now().Add(5 * time.Second); ; {
		ln, err = net.Listen("tcp", e.addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		panic(fmt.Sprintf("smtest: %s: listen on %s: %v", who, e.addr, err))
	}
	e.serve(ln)
	return true
}
