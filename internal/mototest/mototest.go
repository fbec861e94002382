// Package mototest starts moto's server (a Secrets Manager implementation
// nobody here wrote) for tests that check secretsql and smtest against it.
package mototest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Path returns the path of moto_server, or skips the test (fails it under
// CI=true, where every check must run) if moto is not installed.
func Path(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p
	}
	if out, err := exec.Command("pyenv", "which", "moto_server").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	if home, err := os.UserHomeDir(); err == nil {
		if m, _ := filepath.Glob(filepath.Join(home, ".pyenv/versions/*/bin/moto_server")); len(m) > 0 {
			return m[len(m)-1]
		}
	}
	msg := "moto_server not found (pip install 'moto[server]'): this test needs it"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start starts moto's server on a free loopback port and returns its URL;
// the server is stopped when the test ends.
func Start(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(Path(t), "-H", "127.0.0.1", "-p", "0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// Werkzeug prints " * Running on http://127.0.0.1:PORT"; the rest of
	// stderr (one line per request) is drained until the server stops.
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		running := regexp.MustCompile(`Running on (http://127\.0\.0\.1:[0-9]+)`)
		for sc.Scan() {
			if m := running.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		close(found)
	}()
	select {
	case url, ok := <-found:
		if !ok {
			t.Fatal("moto_server exited before listening")
		}
		return url
	case <-time.After(time.Minute):
		t.Fatal("moto_server did not listen within a minute")
	}
	return ""
}
