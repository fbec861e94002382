package vaulttest

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// Version is the Vault version scripts/vaultserver.sh builds.
const Version = "1.14.1"

// BuildCommand builds the Vault server binary into its cache directory.
const BuildCommand = "bash scripts/vaultserver.sh (from the repository root; `make test` runs it)"

// KVMount is the mount path of the KV v2 secrets engine of a dev server.
const KVMount = "secret"

// Bounds of the harness's waits and reads.
const (
	// startTimeout bounds the wait for a started server to answer.
	startTimeout = 60 * time.Second
	// stopTimeout bounds the wait for a server to exit after SIGINT, and
	// again after SIGKILL.
	stopTimeout = 10 * time.Second
	// opTimeout bounds each request a helper makes to Vault or a database.
	opTimeout = 30 * time.Second
	// versionTimeout bounds `vault version`.
	versionTimeout = 30 * time.Second
	// logLimit is how much of the server's output is kept, for messages.
	logLimit = 64 << 10
	// startAttempts is how many free ports Start tries: another process
	// can take the port between the probe and Vault's listen.
	startAttempts = 3
)

// Server is a running Vault dev server. It is stopped when the test that
// started it ends. Printing a Server with fmt never shows the root token.
type Server struct {
	// Addr is the server's address, "http://127.0.0.1:PORT".
	Addr string
	// Token is the root token.
	Token string
	// Client is an API client for Addr, authenticated with Token. It reads
	// no VAULT_* environment variable (no namespace, no retries).
	Client *api.Client

	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited and been reaped
	// waitErr is cmd.Wait's result, set before done is closed.
	waitErr error

	mu     sync.Mutex
	mounts map[string]int // engine -> number of mounts made
}

// Format prints the server's address only (no token), whatever the verb.
func (s *Server) Format(f fmt.State, verb rune) {
	if s == nil {
		fmt.Fprint(f, "vaulttest.Server(nil)")
		return
	}
	fmt.Fprintf(f, "vaulttest.Server{Addr: %s}", s.Addr)
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary returns the path of the Vault server binary: VAULT_BIN if set, else
// the one scripts/vaultserver.sh builds into
// ${VAULT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretsql/vault-1.14.1}/vault.
// The binary must answer `vault version` with "Vault v…". The result is
// cached for the life of the test binary.
func Binary() (string, error) {
	binOnce.Do(func() { binPath, binErr = findBinary() })
	return binPath, binErr
}

func findBinary() (string, error) {
	path := os.Getenv("VAULT_BIN")
	if path == "" {
		dir := os.Getenv("VAULT_CACHE_DIR")
		if dir == "" {
			cache := os.Getenv("XDG_CACHE_HOME")
			if cache == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return "", fmt.Errorf("no cache directory: %w", err)
				}
				cache = filepath.Join(home, ".cache")
			}
			dir = filepath.Join(cache, "secretsql", "vault-"+Version)
		}
		path = filepath.Join(dir, "vault")
	}
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), versionTimeout)
	defer cancel()
	out := &tailBuffer{limit: 4 << 10}
	cmd := exec.CommandContext(ctx, path, "version")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s version: %w (output: %q)", path, err, out.String())
	}
	if !strings.HasPrefix(out.String(), "Vault v") {
		return "", fmt.Errorf("%s version printed %q, not \"Vault v…\"", path, out.String())
	}
	return path, nil
}

// unavailable skips the test, or fails it when CI is "true", because err
// leaves no server binary.
func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("vaulttest: no Vault server binary: %v; build it with %s, or set VAULT_BIN", err, BuildCommand)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	} else {
		t.Skip(msg)
	}
}

// Start launches `vault server -dev` on a free 127.0.0.1 port with a random
// root token, waits (at most a minute) until it is unsealed and its KV v2
// mount is there, and stops it when the test ends, leaving no process
// behind. Without a binary (see [Binary]) the test is skipped, or fails when
// CI is "true".
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		unavailable(t, err)
		return nil
	}
	token := "sqt-" + randomHex(16) // Vault refuses a custom token id with a "."
	var errs []error
	for range startAttempts {
		s, err := start(bin, token, t.TempDir())
		if err == nil {
			t.Cleanup(func() {
				if err := s.stop(); err != nil {
					t.Errorf("vaulttest: stopping the server: %v", err)
				}
			})
			return s
		}
		errs = append(errs, err)
		var pe *portError
		if !errors.As(err, &pe) || !pe.taken() {
			break // only a port that another process took is worth a new port
		}
	}
	t.Fatalf("vaulttest: cannot start %s server -dev: %v", bin, errors.Join(errs...))
	return nil
}

// portError is the error of a server that exited while starting on port
// (its API listener) and port+1 (Vault's cluster listener).
type portError struct {
	port int
	err  error
}

func (e *portError) Error() string {
	return fmt.Sprintf("the server exited while starting on ports %d and %d: %v", e.port, e.port+1, e.err)
}

func (e *portError) Unwrap() error { return e.err }

// taken reports whether one of the server's ports is in use now, by
// another process (so the server's exit may have been a lost race for it).
func (e *portError) taken() bool {
	for _, p := range []int{e.port, e.port + 1} {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return true
		}
		l.Close()
	}
	return false
}

// start launches one server and waits until it answers; on failure the
// process is gone when it returns.
func start(bin, token, home string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{
		Addr:   "http://" + listen,
		Token:  token,
		out:    &tailBuffer{limit: logLimit, redact: []string{token}},
		done:   make(chan struct{}),
		mounts: map[string]int{},
	}
	// The token and the address go by environment, not arguments: the
	// arguments of a process are visible to every user of the machine.
	// HOME is the test's temporary directory, and -dev-no-store-token keeps
	// the token out of any token helper file.
	s.cmd = exec.Command(bin, "server", "-dev", "-dev-no-store-token")
	s.cmd.Env = append(childEnv(),
		"HOME="+home,
		"VAULT_DEV_ROOT_TOKEN_ID="+token,
		"VAULT_DEV_LISTEN_ADDRESS="+listen,
	)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.WaitDelay = stopTimeout // bounds Wait if a child keeps the output open
	setProcAttr(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()

	s.Client, err = newClient(s.Addr, token)
	if err == nil {
		err = s.waitReady(port)
	}
	if err != nil {
		if stopErr := s.stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("%w; server output (token redacted):\n%s", err, s.out.String())
	}
	return s, nil
}

// childEnv is the test's environment without VAULT_* variables, which
// would configure the server (or its CLI) in ways the tests do not expect.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

// newClient returns an API client for addr with token, configured
// explicitly: the VAULT_* variables the official client reads (address,
// token, namespace, retries, TLS) must not leak into the tests.
func newClient(addr, token string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, cfg.Error
	}
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = opTimeout
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	c.ClearNamespace()
	return c, nil
}

// waitReady polls the server until it is unsealed and has its KV v2 mount,
// the process exits, or startTimeout passes.
func (s *Server) waitReady(port int) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var last error
	for {
		select {
		case <-s.done:
			return &portError{port: port, err: s.waitErr}
		case <-ctx.Done():
			return fmt.Errorf("the server did not answer within %v (last error: %v)", startTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
		last = s.ready(ctx)
		if last == nil {
			return nil
		}
	}
}

func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	h, err := s.Client.Sys().HealthWithContext(ctx)
	if err != nil {
		return err
	}
	if !h.Initialized || h.Sealed {
		return fmt.Errorf("initialized=%v sealed=%v", h.Initialized, h.Sealed)
	}
	mounts, err := s.Client.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return err
	}
	if m, ok := mounts[KVMount+"/"]; !ok || m.Type != "kv" {
		return fmt.Errorf("no KV mount at %s/ yet", KVMount)
	}
	return nil
}

// stop ends the server: SIGINT (Vault shuts down cleanly), then SIGKILL to
// its process group if it has not exited within stopTimeout. It returns
// once the process has been reaped, and is idempotent.
func (s *Server) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	interrupt(s.cmd)
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
	}
	killGroup(s.cmd)
	select {
	case <-s.done:
		return fmt.Errorf("the server ignored SIGINT for %v and was killed", stopTimeout)
	case <-time.After(stopTimeout):
		return fmt.Errorf("the server (pid %d) did not exit within %v of SIGKILL", s.cmd.Process.Pid, stopTimeout)
	}
}

// Output returns the last 64 KiB of the server's standard output and error,
// with the root token and the unseal key redacted.
func (s *Server) Output() string { return s.out.String() }

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}

// tailBuffer is an io.Writer keeping the last limit bytes written. String
// drops lines that show the root token or the unseal key and replaces each
// string of redact.
type tailBuffer struct {
	mu     sync.Mutex
	limit  int
	buf    []byte
	redact []string
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) > b.limit {
		p = p[len(p)-b.limit:]
	}
	if over := len(b.buf) + len(p) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// String returns the kept output, redacted.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out bytes.Buffer
	for line := range strings.Lines(string(b.buf)) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "Root Token:") || strings.HasPrefix(trimmed, "Unseal Key:") {
			out.WriteString(line[:strings.Index(line, ":")+1] + " [redacted]\n")
			continue
		}
		for _, r := range b.redact {
			if r != "" {
				line = strings.ReplaceAll(line, r, "[redacted]")
			}
		}
		out.WriteString(line)
	}
	return out.String()
}

// Stop stops the server now (SIGINT, then SIGKILL), for tests of a Vault
// that goes away; the test's cleanup then has nothing left to stop. It
// fails the test if the process does not exit.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Errorf("vaulttest: stopping the server: %v", err)
	}
}
