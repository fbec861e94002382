package smallfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const limit = 64 << 10

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRead: a file within the limit is read whole; one over it, a missing
// one, a directory and a device are refused with errors that name the path
// and never the content, /dev/zero without reading it.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	write(t, ok, " tok\n")
	if b, err := Read(ok, limit); err != nil || string(b) != " tok\n" {
		t.Errorf("Read(ok) = %q, %v", b, err)
	}
	exact := filepath.Join(dir, "exact")
	write(t, exact, strings.Repeat("x", limit))
	if b, err := Read(exact, limit); err != nil || len(b) != limit {
		t.Errorf("Read(64 KiB) = %d bytes, %v", len(b), err)
	}
	big := filepath.Join(dir, "big")
	write(t, big, strings.Repeat("x", 100<<10))
	if _, err := Read(big, limit); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), big) || strings.Contains(err.Error(), "xxx") {
		t.Errorf("Read(100 KiB) error = %v, want ErrTooLarge naming the path", err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), limit); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read(missing) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := Read(dir, limit); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Read(directory) error = %v, want ErrNotRegular", err)
	}
	if runtime.GOOS != "windows" {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Read("/dev/zero", limit)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "/dev/zero") {
			t.Errorf("Read(/dev/zero) error = %v, want ErrNotRegular naming the path", err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("Read(/dev/zero) allocated %d bytes", alloc)
		}
	}
}
