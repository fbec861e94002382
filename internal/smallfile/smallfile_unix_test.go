//go:build unix

package smallfile

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReadFIFO: a FIFO without a writer is refused, not waited on (the
// wait below only keeps a regression from hanging the test binary).
func TestReadFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := Read(path, limit); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) {
			t.Errorf("Read(FIFO) error = %v, want ErrNotRegular", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Read(FIFO) blocks")
	}
}
