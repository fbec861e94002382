// Package tdstest is a minimal SQL Server for tests: it speaks enough TDS 7.4
// over TCP for the real github.com/microsoft/go-mssqldb client to log in with
// a SQL login, run a few trivial queries and be turned away with the same
// error SQL Server sends for a wrong password.
//
// What it implements:
//
//   - PRELOGIN, answered with encryption NOT_SUP: no TLS at all. A client
//     with encrypt=disable, or with encryption left optional (the default, or
//     encrypt=false), logs in in clear; encrypt=true fails in the client
//     ("server does not support encryption"), and encrypt=strict, which
//     starts with a TLS handshake, is disconnected.
//   - LOGIN7, with the obfuscated password decoded (XOR 0xA5, then swap the
//     nibbles of every byte; UTF-16LE) and compared with the current
//     password. Success answers ENVCHANGE (database, packet size), INFO 5701,
//     LOGINACK (TDS 7.4) and DONE. Failure answers ERROR 18456, state 1,
//     class 14, "Login failed for user '<user>'.", then DONE with the error
//     bit, and closes the connection, as SQL Server does. Integrated
//     (SSPI/NTLM) logins fail with 18452. A password change requested in
//     LOGIN7 is applied when the old password is right.
//   - SQL_BATCH with the ALL_HEADERS prefix: SELECT <int> (what
//     database/sql's Ping sends through go-mssqldb: "select 1;"),
//     SELECT DB_NAME() and SELECT SUSER_SNAME() (or SUSER_NAME(),
//     SYSTEM_USER), answered with COLMETADATA, ROW and DONE. Anything else
//     gets ERROR 102. The RESETCONNECTION status bit, which go-mssqldb sets
//     on the first request after a connection comes out of the pool, is
//     acknowledged with ENVCHANGE 18 and restores the login's database.
//   - ATTENTION, acknowledged with DONE (attention bit).
//   - RPC and transaction manager requests are answered with an error.
//
// Replies are split into packets of the negotiated packet size.
package tdstest

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Server is a TDS server listening on 127.0.0.1. Its methods are safe for
// concurrent use.
type Server struct {
	tb testing.TB
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	user     string
	password string
	conns    map[net.Conn]struct{}
	closed   bool

	nextSPID atomic.Uint32
	logins   atomic.Int64
	failed   atomic.Int64
	queries  atomic.Int64
}

// NewServer starts a server that accepts the SQL login user with password.
// When tb is not nil, a failure to listen fails the test, protocol errors
// are logged with tb.Logf, and the server is closed by tb.Cleanup; with a nil
// tb, NewServer panics if it cannot listen and the caller must call Close.
func NewServer(tb testing.TB, user, password string) *Server {
	if tb != nil {
		tb.Helper()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if tb != nil {
			tb.Fatalf("tdstest: listen: %v", err)
		}
		panic("tdstest: listen: " + err.Error())
	}
	s := &Server{
		tb:       tb,
		ln:       ln,
		user:     user,
		password: password,
		conns:    map[net.Conn]struct{}{},
	}
	s.nextSPID.Store(50)
	s.wg.Add(1)
	go s.serve()
	if tb != nil {
		tb.Cleanup(s.Close)
	}
	return s
}

// Addr returns the listening address, "127.0.0.1:<port>".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host returns the listening host, "127.0.0.1".
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port returns the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// SetPassword changes the password the server accepts from the next login
// on, as a password rotation does; open connections stay open.
func (s *Server) SetPassword(password string) {
	s.mu.Lock()
	s.password = password
	s.mu.Unlock()
}

// Password returns the password the server currently accepts.
func (s *Server) Password() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.password
}

// Logins returns the number of successful logins so far.
func (s *Server) Logins() int64 { return s.logins.Load() }

// FailedLogins returns the number of rejected logins so far.
func (s *Server) FailedLogins() int64 { return s.failed.Load() }

// Queries returns the number of SQL batches answered with a result set.
func (s *Server) Queries() int64 { return s.queries.Load() }

// OpenConns returns the number of client connections currently open.
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops the listener, closes every connection and waits for the
// server's goroutines to return. It may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. out of file descriptors): back off a little.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(nc)
	}
}

func (s *Server) handle(nc net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		nc.Close()
	}()
	c := &conn{
		srv:        s,
		nc:         nc,
		r:          bufio.NewReader(nc),
		spid:       uint16(s.nextSPID.Add(1)),
		packetSize: defaultPacketSize,
	}
	// run returns only when the connection ends, always with the reason.
	if err := c.run(); !isDisconnect(err) {
		s.logf("tdstest: connection %d: %v", c.spid, err)
	}
}

// isDisconnect reports errors that only mean the connection went away.
func isDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, errLoginFailed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (s *Server) logf(format string, args ...any) {
	if s.tb != nil {
		s.tb.Logf(format, args...)
	}
}

// checkLogin decides a SQL login, applying a requested password change.
func (s *Server) checkLogin(user, password, newPassword string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := subtle.ConstantTimeCompare([]byte(user), []byte(s.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(password), []byte(s.password)) == 1
	if ok && newPassword != "" {
		s.password = newPassword
	}
	return ok
}

// errLoginFailed ends a connection whose login was rejected.
var errLoginFailed = errors.New("tdstest: login failed")

// conn is one client connection.
type conn struct {
	srv        *Server
	nc         net.Conn
	r          *bufio.Reader
	spid       uint16
	packetSize int
	user       string
	loginDB    string
	database   string
}

func (c *conn) write(payload []byte) error {
	_, err := c.nc.Write(packetize(payload, c.packetSize, c.spid))
	return err
}

// run serves the connection until it ends and returns why: never nil (a
// client hanging up is an io.EOF, see isDisconnect).
func (c *conn) run() error {
	m, err := readMessage(c.r)
	if err != nil {
		return err
	}
	if m.typ != packPrelogin {
		return protocolErrorf("first message of type %d, want PRELOGIN", m.typ)
	}
	if _, err := preloginOptions(m.payload); err != nil {
		return err
	}
	if err := c.write(preloginReply()); err != nil {
		return err
	}

	m, err = readMessage(c.r)
	if err != nil {
		return err
	}
	if m.typ != packLogin7 {
		return protocolErrorf("message of type %d after PRELOGIN, want LOGIN7", m.typ)
	}
	if err := c.login(m.payload); err != nil {
		return err
	}

	for {
		m, err := readMessage(c.r)
		if err != nil {
			return err
		}
		var reply []byte
		if m.status&statusResetConnection != 0 && m.typ != packAttention {
			reply = appendResetConnAck(reply)
			c.database = c.loginDB
		}
		switch m.typ {
		case packSQLBatch:
			text, err := batchText(m.payload)
			if err != nil {
				return err
			}
			reply = c.execute(reply, text)
		case packRPCRequest:
			reply = appendMessage(reply, tokenError, 2812, 62, 16, "tdstest does not support RPC requests; send the statement without parameters.")
			reply = appendDone(reply, doneError, 0, 0)
		case packTransMgrReq:
			reply = appendMessage(reply, tokenError, 3906, 1, 16, "tdstest does not support transactions.")
			reply = appendDone(reply, doneError, 0, 0)
		case packAttention:
			reply = appendDone(reply, doneAttn, 0, 0)
		default:
			return protocolErrorf("message of type %d", m.typ)
		}
		if err := c.write(reply); err != nil {
			return err
		}
	}
}

func (c *conn) login(payload []byte) error {
	l, err := parseLogin7(payload)
	if err != nil {
		return err
	}
	// Replies, this one included, use the packet size the client asked for.
	size := int(l.packetSize)
	if size == 0 {
		size = defaultPacketSize
	}
	c.packetSize = min(max(size, minPacketSize), maxPacketSize)
	var reply []byte
	switch {
	case l.integrated:
		c.srv.failed.Add(1)
		reply = appendMessage(reply, tokenError, 18452, 1, 14,
			"Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication.")
	case !c.srv.checkLogin(l.user, l.password, l.changePassword):
		c.srv.failed.Add(1)
		reply = appendMessage(reply, tokenError, 18456, 1, 14, fmt.Sprintf("Login failed for user '%s'.", l.user))
	default:
		c.srv.logins.Add(1)
		c.user = l.user
		c.loginDB = l.database
		if c.loginDB == "" {
			c.loginDB = "master"
		}
		c.database = c.loginDB
		reply = appendEnvChange(reply, envDatabase, c.database, "master")
		reply = appendMessage(reply, tokenInfo, 5701, 2, 0, fmt.Sprintf("Changed database context to '%s'.", c.database))
		reply = appendEnvChange(reply, envPacketSize, strconv.Itoa(c.packetSize), strconv.Itoa(defaultPacketSize))
		reply = appendLoginAck(reply)
		reply = appendDone(reply, doneFinal, 0, 0)
		return c.write(reply)
	}
	reply = appendDone(reply, doneError, 0, 0)
	if err := c.write(reply); err != nil {
		return err
	}
	return errLoginFailed
}

// batchText returns the SQL text of a SQL_BATCH payload, after the
// ALL_HEADERS block.
func batchText(p []byte) (string, error) {
	if len(p) < 4 {
		return "", protocolErrorf("SQL_BATCH of %d bytes", len(p))
	}
	total := int(uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24)
	if total < 4 || total > len(p) || (len(p)-total)%2 != 0 {
		return "", protocolErrorf("SQL_BATCH headers of %d bytes in %d", total, len(p))
	}
	return decodeUCS2(p[total:]), nil
}

// execute appends the reply to one of the statements the server knows.
func (c *conn) execute(reply []byte, text string) []byte {
	q := strings.ToLower(strings.Join(strings.Fields(strings.TrimRight(strings.TrimSpace(text), "; \t\r\n")), " "))
	var col column
	var value any
	switch q {
	case "select db_name()":
		col, value = column{nvarchar: true}, c.database
	case "select suser_sname()", "select suser_name()", "select system_user":
		col, value = column{nvarchar: true}, c.user
	default:
		n, err := strconv.ParseInt(strings.TrimPrefix(q, "select "), 10, 32)
		if !strings.HasPrefix(q, "select ") || err != nil {
			reply = appendMessage(reply, tokenError, 102, 1, 15, fmt.Sprintf(
				"Incorrect syntax near %q: tdstest understands only SELECT <int>, SELECT DB_NAME() and SELECT SUSER_SNAME().", text))
			return appendDone(reply, doneError, 0, 0)
		}
		value = int32(n)
	}
	c.srv.queries.Add(1)
	reply = appendColMetadata(reply, []column{col})
	reply = appendRow(reply, value)
	return appendDone(reply, doneCount, cmdSelect, 1)
}
