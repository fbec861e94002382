//go:build unix

package vault

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/secretsql/secretsql/internal/smallfile"
)

// TestTokenFileFIFO: a token file that is a FIFO without a writer is
// refused (internal/smallfile), not waited on.
func TestTokenFileFIFO(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	a := newAuth(authConfig{Method: "token", TokenFile: path}, nil, nil)
	defer a.close()
	if _, err := a.token(t.Context()); !errors.Is(err, smallfile.ErrNotRegular) {
		t.Errorf("token() of a FIFO token file: %v", err)
	}
}
