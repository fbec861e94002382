//go:build unix

package vault

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReadSmallFIFO: a FIFO without a writer is refused at once, not
// waited on.
func TestReadSmallFIFO(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() { _, err := readSmall(path, maxSecretFileSize); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, errFileNotRegular) {
			t.Errorf("readSmall(FIFO) error = %v, want errFileNotRegular", err)
		}
		t.Logf("FIFO refused in %v", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("readSmall(FIFO) blocks")
	}
	// The same through a token file.
	a := newAuth(authConfig{Method: "token", TokenFile: path}, nil, nil)
	defer a.close()
	if _, err := a.token(t.Context()); !errors.Is(err, errFileNotRegular) {
		t.Errorf("token() of a FIFO token file: %v", err)
	}
}
