package smtest

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// endpoint is an HTTP server on one address that can stop listening, listen
// there again, and be closed for good: the serving part of Server and
// Agent. Its owner guards it with a mutex.
type endpoint struct {
	addr    string
	handler http.Handler
	hs      *http.Server // nil while not listening
	ln      net.Listener // the listener hs serves
	closed  bool
}

// serve serves the handler on ln.
func (e *endpoint) serve(ln net.Listener) {
	hs := &http.Server{
		Handler:           e.handler,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	e.hs, e.ln = hs, ln
	go func() { _ = hs.Serve(ln) }()
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
