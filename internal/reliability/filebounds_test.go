package reliability

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
)

// TestFileReadsBounded: a file: DSN naming a device (/dev/zero), a FIFO
// without a writer or a file larger than a secret can be fails at once with
// an error, reads nothing past 64 KiB, and leaves nothing blocked: Cache.Close
// returns at once. (Before: /dev/zero exhausted memory, a 256 MiB file was
// allocated whole on every read, and a FIFO blocked a goroutine for ever, so
// that Cache.Close never returned.)
func TestFileReadsBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(256 << 20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	for _, path := range []string{"/dev/zero", fifo, big} {
		cache := secretsql.NewCache()
		c, err := secretsql.NewConnector("postgres", "file:"+path+"?host=127.0.0.1", secretsql.WithCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		_, err = c.Resolve(ctx)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, secretsql.ErrMalformedSecret) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want ErrMalformedSecret at once", path, err)
		}
		c.Close()
		closed := make(chan struct{})
		go func() { cache.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: Cache.Close did not return", path)
		}
		t.Logf("%s: refused in %v: %v", path, took.Round(time.Microsecond), err)
	}
}

// TestFileSameSizeRewriteSeen: a file rewritten with other content of the
// same size and with its modification time preserved is a new version at
// the next background refresh. (Before: the file's target, size and mtime decided, so the
// change was missed until a rejected login.)
func TestFileSameSizeRewriteSeen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.json")
	write := func(pw string) {
		if err := os.WriteFile(path, []byte(`{"username":"app","password":"`+pw+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("pw-aaaa")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := secretsql.NewConnector("postgres", "file:"+path+"?host=127.0.0.1&ttl=1s", secretsql.WithCache(secretsql.NewCache()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r1, err := c.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	write("pw-bbbb")
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	// The background refresh (ttl=1s) reads it again.
	var r2 secretsql.Resolved
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r2, err = c.Resolve(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r2.VersionID != r1.VersionID {
			break
		}
	}
	if r2.VersionID == r1.VersionID || r2.Credentials.Password() != "pw-bbbb" {
		t.Errorf("after a same-size rewrite with the mtime kept: version %s → %s, new password read: %v",
			r1.VersionID, r2.VersionID, r2.Credentials.Password() == "pw-bbbb")
	}
	if strings.Contains(r2.VersionID, "pw-") {
		t.Error("the version id shows the content")
	}
}
