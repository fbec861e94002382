package smtest_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/secretsql/secretsql/smtest"
)

// shortLimits are the timeouts of the servers of TestConnectionLimits.
const (
	testHeaderTimeout = 500 * time.Millisecond
	testBodyTimeout   = time.Second
	testIdleTimeout   = 1500 * time.Millisecond
)

// closedWithin reads conn until the server closes it and returns how long
// that took and what was read; it fails the test if the connection is still
// open after limit.
func closedWithin(t *testing.T, conn net.Conn, start time.Time, limit time.Duration) (time.Duration, string) {
	t.Helper()
	_ = conn.SetReadDeadline(start.Add(limit))
	got, err := io.ReadAll(io.LimitReader(conn, 1<<20))
	took := time.Since(start)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection is still open after %v (read so far: %q)", took.Round(time.Millisecond), got)
	}
	return took, string(got)
}

// trickle writes b one byte every interval until done is closed or a write
// fails.
func trickle(conn net.Conn, b []byte, interval time.Duration, done <-chan struct{}) {
	for _, c := range b {
		if _, err := conn.Write([]byte{c}); err != nil {
			return
		}
		select {
		case <-done:
			return
		case <-time.After(interval):
		}
	}
}

// TestConnectionLimits checks that the server closes the connections of a
// slow or idle client: a header or a body sent a byte at a time, a
// keep-alive connection left idle, and a body beyond the size limit.
func TestConnectionLimits(t *testing.T) {
	srv, _ := newServer(t, smtest.WithTimeouts(testHeaderTimeout, testBodyTimeout, testIdleTimeout))
	addr := strings.TrimPrefix(srv.URL, "http://")
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	const slack = 3 * time.Second
	header := "POST / HTTP/1.1\r\nHost: " + addr + "\r\nX-Amz-Target: secretsmanager.ListSecrets\r\nContent-Type: application/x-amz-json-1.1\r\n"

	t.Run("trickling header", func(t *testing.T) {
		t.Parallel()
		conn := dial(t)
		done := make(chan struct{})
		defer close(done)
		start := time.Now()
		go trickle(conn, []byte(header+"X-Slow: "+strings.Repeat("a", 1000)), 50*time.Millisecond, done)
		took, _ := closedWithin(t, conn, start, testHeaderTimeout+slack)
		t.Logf("closed after %v", took.Round(time.Millisecond))
	})
	t.Run("trickling body", func(t *testing.T) {
		t.Parallel()
		conn := dial(t)
		if _, err := io.WriteString(conn, header+"Content-Length: 1000\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		defer close(done)
		start := time.Now()
		go trickle(conn, []byte(strings.Repeat(" ", 1000)), 50*time.Millisecond, done)
		took, got := closedWithin(t, conn, start, testBodyTimeout+slack)
		t.Logf("closed after %v", took.Round(time.Millisecond))
		if took < testBodyTimeout-100*time.Millisecond {
			t.Fatalf("closed after %v, before the body timeout %v", took, testBodyTimeout)
		}
		if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
			t.Fatalf("answer %q, want 408 Request Timeout", got)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		t.Parallel()
		conn := dial(t)
		if _, err := io.WriteString(conn, header+"Content-Length: 2\r\n\r\n{}"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close || resp.StatusCode != http.StatusBadRequest { // unsigned: refused, connection kept
			t.Fatalf("status %d, Connection: close %v; want 400 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		start := time.Now()
		_ = conn.SetReadDeadline(start.Add(testIdleTimeout + slack))
		_, err = br.ReadByte()
		took := time.Since(start)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the idle connection is still open after %v", took.Round(time.Millisecond))
		}
		t.Logf("closed after %v idle", took.Round(time.Millisecond))
		if took < testIdleTimeout-100*time.Millisecond {
			t.Fatalf("closed after %v, before the idle timeout %v", took, testIdleTimeout)
		}
	})
	t.Run("body too large", func(t *testing.T) {
		t.Parallel()
		conn := dial(t)
		// An endless chunked body: the server answers after 1 MiB and closes.
		if _, err := io.WriteString(conn, header+"Transfer-Encoding: chunked\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat(" ", 64<<10))
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := io.WriteString(conn, chunk); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		took, got := closedWithin(t, conn, start, testBodyTimeout+slack)
		t.Logf("closed after %v", took.Round(time.Millisecond))
		if !strings.HasPrefix(got, "HTTP/1.1 400 ") || !strings.Contains(got, "SerializationException") {
			t.Fatalf("answer %q, want 400 SerializationException", got)
		}
	})
}
