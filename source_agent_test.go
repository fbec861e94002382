package secretsql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// agentTestToken is the SSRF token of these tests' agents.
const agentTestToken = "ssrf-TOKEN-4b1d9e7c"

// agentTokenEnv sets the agent token variables (AWS_TOKEN first), clearing
// the others and the Lambda runtime's.
func agentTokenEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, k := range append([]string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_RUNTIME_API"}, agentTokenVars...) {
		t.Setenv(k, vars[k])
	}
}

// fakeAgent is a plain HTTP server that answers the agent's GET with a
// database secret for any secretId, records the tokens it receives and
// counts the connections open to it.
type fakeAgent struct {
	*httptest.Server
	requests atomic.Int64
	open     atomic.Int64 // connections open now

	mu     sync.Mutex
	tokens []string
}

func newFakeAgent(t *testing.T, h http.HandlerFunc) *fakeAgent {
	t.Helper()
	a := &fakeAgent{}
	a.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		a.mu.Lock()
		a.tokens = append(a.tokens, r.Header.Get("X-Aws-Parameters-Secrets-Token"))
		a.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		id := r.URL.Query().Get("secretId")
		s, _ := json.Marshal(fmt.Sprintf(`{"engine":"postgres","host":"db.internal","username":"app","password":"pw-%s"}`, id))
		fmt.Fprintf(w, `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:%s","VersionId":"v1","SecretString":%s}`, id, s)
	}))
	a.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			a.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			a.open.Add(-1)
		}
	}
	a.Start()
	t.Cleanup(a.Close)
	return a
}

func (a *fakeAgent) addr() string { return strings.TrimPrefix(a.URL, "http://") }

func (a *fakeAgent) sawTokens() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tokens...)
}

func agentRead(t *testing.T, addr, secretID string) (sourceValue, error) {
	t.Helper()
	s := newAgentSource(&dsnConfig{source: "agent", agent: addr})
	defer s.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.read(ctx, readRequest{secretID: secretID, stage: StageCurrent})
}

// Finding 2: the agent never redirects; a redirect must not take the token
// (or the read) to the host it names.
func TestAgentRefusesRedirect(t *testing.T) {
	agentTokenEnv(t, map[string]string{"AWS_TOKEN": agentTestToken})
	other := newFakeAgent(t, nil)
	redirector := newFakeAgent(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
	})
	v, err := agentRead(t, redirector.addr(), "prod/app")
	if n := other.requests.Load(); n != 0 {
		t.Errorf("the redirect's target received %d request(s), tokens %q", n, other.sawTokens())
	}
	var fe *FetchError
	if err == nil || !errors.As(err, &fe) || !errors.Is(err, ErrSecretsManager) {
		t.Fatalf("a 302 from the agent: value %q, error %v; want a FetchError", v.value, err)
	}
	if !strings.Contains(err.Error(), "302") || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("the error does not say the agent redirected: %v", err)
	}
}

// Finding 3: agent= takes loopback addresses only.
func TestAgentAddrLoopbackOnly(t *testing.T) {
	for _, a := range []string{"10.1.2.3:2773", "169.254.169.254:80", "example.com:2773", "secrets.internal:2773",
		"[fd00::1]:2773", "[::ffff:10.0.0.1]:2773", "0.0.0.0:2773", "localhost.example.com:2773", "[fe80::1%25eth0]:2773"} {
		_, err := parseDSN("prod/app?source=agent&agent=" + a)
		var de *DSNError
		if !errors.As(err, &de) || de.Key != "agent" {
			t.Errorf("agent=%s: %v, want a DSNError of key agent", a, err)
		}
	}
	for _, a := range []string{"localhost:2773", "127.0.0.1:2773", "127.9.8.7:80", "[::1]:2773", "LOCALHOST:2773"} {
		if _, err := parseDSN("prod/app?source=agent&agent=" + a); err != nil {
			t.Errorf("agent=%s: %v", a, err)
		}
	}
}

// Finding 3, at the dial: a source whose address is not on loopback (one
// made without the DSN's check, or a name that resolves elsewhere) does not
// connect: not to TEST-NET-1, nor to an address of this host that is not
// loopback, where a server listens.
func TestAgentDialsLoopbackOnly(t *testing.T) {
	agentTokenEnv(t, map[string]string{"AWS_TOKEN": agentTestToken})
	if _, err := agentRead(t, "192.0.2.1:2773", "prod/app"); !errors.Is(err, errNotLoopback) {
		t.Errorf("reading the agent at 192.0.2.1:2773: %v, want the dial refused (errNotLoopback)", err)
	}
	ip := nonLoopbackIP()
	if ip == nil {
		t.Log("no non-loopback IPv4 address on this host: the listening case is not run")
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	var requests atomic.Int64
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, `{"ARN":"x","VersionId":"v1","SecretString":"{}"}`)
	})}}
	srv.Start()
	defer srv.Close()
	_, err = agentRead(t, ln.Addr().String(), "prod/app")
	if !errors.Is(err, errNotLoopback) || requests.Load() != 0 {
		t.Fatalf("reading the agent at %s (not loopback): error %v, %d request(s) received", ln.Addr(), err, requests.Load())
	}
	if strings.Contains(err.Error(), agentTestToken) {
		t.Errorf("the error shows the token: %v", err)
	}
	t.Logf("%v", err)
}

// nonLoopbackIP is an IPv4 address of this host that is not loopback, or
// nil.
func nonLoopbackIP() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP
		}
	}
	return nil
}

// Finding 3: AWS_SESSION_TOKEN is the agent's token only inside Lambda;
// elsewhere it is the process's STS session token and is never sent.
func TestAgentSessionTokenOnlyInLambda(t *testing.T) {
	const sts = "IQoJb3JpZ2luX2VjSTS-session-token"
	a := newFakeAgent(t, nil)
	agentTokenEnv(t, map[string]string{"AWS_SESSION_TOKEN": sts})
	_, err := agentRead(t, a.addr(), "prod/app")
	for _, tok := range a.sawTokens() {
		if tok == sts {
			t.Fatalf("outside Lambda the agent received AWS_SESSION_TOKEN")
		}
	}
	if err != nil && strings.Contains(err.Error(), sts) {
		t.Errorf("the error shows the session token: %v", err)
	}
	for _, lambda := range []string{"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_RUNTIME_API"} {
		agentTokenEnv(t, map[string]string{"AWS_SESSION_TOKEN": sts, lambda: "x"})
		before := len(a.sawTokens())
		if _, err := agentRead(t, a.addr(), "prod/app"); err != nil {
			t.Fatalf("with %s set: %v", lambda, err)
		}
		if toks := a.sawTokens()[before:]; len(toks) != 1 || toks[0] != sts {
			t.Errorf("with %s set the agent received %d token(s), want AWS_SESSION_TOKEN", lambda, len(toks))
		}
	}
}

// A token file is read bounded (4 KiB): a larger one is an error that
// shows none of it, and nothing is sent.
func TestAgentTokenFileBounded(t *testing.T) {
	a := newFakeAgent(t, nil)
	path := filepath.Join(t.TempDir(), "awssmatoken")
	if err := os.WriteFile(path, []byte(strings.Repeat("T0ken", 1<<18)), 0o600); err != nil {
		t.Fatal(err)
	}
	agentTokenEnv(t, map[string]string{"AWS_TOKEN": "file://" + path})
	_, err := agentRead(t, a.addr(), "prod/app")
	if err == nil || !strings.Contains(err.Error(), "larger than") || strings.Contains(err.Error(), "T0kenT0ken") {
		t.Errorf("a token file of 1.25 MiB: %v", err)
	}
	if n := a.requests.Load(); n != 0 {
		t.Errorf("%d request(s) sent with a token file of 1.25 MiB", n)
	}
}

// Finding 5: 200 Connectors read through agent sources, are closed, then
// the Cache is: the agent sources leave a bounded number of connections
// and goroutines (one shared transport), and none once they are closed.
func TestAgentConnectionsBounded(t *testing.T) {
	agentTokenEnv(t, map[string]string{"AWS_TOKEN": agentTestToken})
	a := newFakeAgent(t, nil)
	before := runtime.NumGoroutine()
	c := NewCache()
	eng := testEngine{name: "fake"}
	ctx := context.Background()
	for i := range 200 {
		h, err := NewHandle(eng, fmt.Sprintf("agent/conn-%d?source=agent&agent=%s", i, a.addr()), WithCache(c))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Credentials(ctx); err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	c.Close()
	time.Sleep(200 * time.Millisecond) // the server's side of closed connections
	open, after := a.open.Load(), runtime.NumGoroutine()
	t.Logf("200 Connectors + Cache.Close: %d requests, %d connections open, goroutines %d -> %d", a.requests.Load(), open, before, after)
	if open > agentMaxIdlePerHost {
		t.Errorf("%d connections to the agent left open, want at most %d", open, agentMaxIdlePerHost)
	}
	if after-before > 3*agentMaxIdlePerHost+10 {
		t.Errorf("goroutines %d -> %d", before, after)
	}

	// close (the cache's, when it drops a source) leaves no idle connection.
	srcs := make([]*agentSource, 20)
	for i := range srcs {
		srcs[i] = newAgentSource(&dsnConfig{source: "agent", agent: a.addr()})
		if _, err := srcs[i].read(ctx, readRequest{secretID: "x", stage: StageCurrent}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range srcs {
		s.close()
		s.close() // idempotent
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("after close of every agent source: %d connections open, goroutines %d", a.open.Load(), runtime.NumGoroutine())
	if n := a.open.Load(); n != 0 {
		t.Errorf("%d connections open after the agent sources were closed", n)
	}
}

// Finding 10: what the agent answers reaches errors bounded, without
// control characters, and without the token, even echoed.
func TestAgentErrorBodies(t *testing.T) {
	agentTokenEnv(t, map[string]string{"AWS_TOKEN": agentTestToken})
	// 900,185 bytes: a forged log line, then padding.
	huge := "\n2026-12-06T06:00:00Z ERROR \x1b[31mforged log line\r\n\u2028\u202e"
	huge += strings.Repeat("A", 900185-len(huge))
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"echo 500", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			_ = r.Header.Write(w)
		}},
		{"echo 403", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "Bad Token %q", r.Header.Get("X-Aws-Parameters-Secrets-Token"))
		}},
		{"echo 400 JSON", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			m, _ := json.Marshal("token was " + r.Header.Get("X-Aws-Parameters-Secrets-Token"))
			fmt.Fprintf(w, `{"__type":"ValidationException","message":%s}`, m)
		}},
		{"echo in the code", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"X%s","message":"m"}`, r.Header.Get("X-Aws-Parameters-Secrets-Token"))
		}},
		{"echo escaped", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			tok := r.Header.Get("X-Aws-Parameters-Secrets-Token")
			fmt.Fprint(w, strings.Join(strings.Split(tok, ""), "\x00"))
		}},
		{"huge JSON message", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			m, _ := json.Marshal(huge)
			fmt.Fprintf(w, `{"__type":"ValidationException","message":%s}`, m)
		}},
		{"huge body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, huge)
		}},
		{"endless body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			b := []byte(strings.Repeat("\x1bx", 1<<15))
			for r.Context().Err() == nil {
				if _, err := w.Write(b); err != nil {
					return
				}
			}
		}},
	} {
		a := newFakeAgent(t, tc.h)
		start := time.Now()
		_, err := agentRead(t, a.addr(), "prod/app")
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		t.Logf("%s: %d bytes in %v: %s", tc.name, len(msg), time.Since(start).Round(time.Millisecond), msg)
		if len(msg) > 1024 {
			t.Errorf("%s: an error of %d bytes", tc.name, len(msg))
		}
		if strings.Contains(strings.ReplaceAll(msg, "\x00", ""), agentTestToken) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), agentTestToken) {
			t.Errorf("%s: the error shows the token: %q", tc.name, msg)
		}
		if i := strings.IndexFunc(msg, func(r rune) bool {
			return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029' || r >= '\u202a' && r <= '\u202e'
		}); i >= 0 {
			t.Errorf("%s: a control character %q in the error at byte %d", tc.name, msg[i], i)
		}
		var fe *FetchError
		if errors.As(err, &fe) && strings.Contains(fe.Code, agentTestToken) {
			t.Errorf("%s: the code is the token: %q", tc.name, fe.Code)
		}
	}
}

// Finding 11: the agent reads in its own region; region= is refused.
func TestAgentRefusesRegion(t *testing.T) {
	_, err := parseDSN("prod/app?source=agent&region=us-west-2")
	var de *DSNError
	if !errors.As(err, &de) || de.Key != "region" || !strings.Contains(de.Reason, "agent") {
		t.Fatalf("source=agent&region=us-west-2: %v, want a DSNError of key region", err)
	}
	if _, err := parseDSN("prod/app?source=agent&failover_region=us-west-2"); err != nil {
		t.Errorf("source=agent&failover_region: %v", err)
	}
}

// Finding 12: the hints of FetchError fit the source: the agent's address,
// token and IAM role; the file's path and mount; Secrets Manager and the
// SDK's credentials for the API only.
func TestFetchErrorHintsFitSource(t *testing.T) {
	agentTokenEnv(t, map[string]string{"AWS_TOKEN": agentTestToken})
	apiWords := []string{"SDK", "WithAWSConfig", "credentials chain", "check network access to its endpoint"}
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status); fmt.Fprint(w, body) }
	}
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		want []string
	}{
		{"denied", answer(400, `{"__type":"AccessDeniedException","message":"no"}`), []string{"agent reads with its own IAM role", "secretsmanager:GetSecretValue"}},
		{"bad AWS credentials", answer(400, `{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}`), []string{"agent's own AWS credentials"}},
		{"expired", answer(400, `{"__type":"ExpiredTokenException","message":"expired"}`), []string{"agent's own AWS credentials"}},
		{"not found", answer(400, `{"__type":"ResourceNotFoundException","message":"no"}`), []string{"secret id", "agent's region"}},
		{"decryption", answer(400, `{"__type":"DecryptionFailure","message":"no"}`), []string{"agent reads with its own IAM role", "kms:Decrypt"}},
		{"other code", answer(400, `{"__type":"ValidationException","message":"no"}`), []string{"agent"}},
	} {
		a := newFakeAgent(t, tc.h)
		_, err := agentRead(t, a.addr(), "prod/app")
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		msg := err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("agent, %s: %q lacks %q", tc.name, msg, w)
			}
		}
		for _, w := range apiWords {
			if strings.Contains(msg, w) {
				t.Errorf("agent, %s: %q speaks of %q", tc.name, msg, w)
			}
		}
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte(`{"username":"app"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"missing", filepath.Join(dir, "missing"), []string{"path", "CSI driver"}},
		{"directory", dir, []string{"path"}},
		{"malformed", bad, []string{"JSON"}},
	} {
		s := &fileSource{path: tc.path}
		_, err := s.read()
		if err == nil {
			t.Fatalf("file, %s: no error", tc.name)
		}
		msg := err.Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("file, %s: %q lacks %q", tc.name, msg, w)
			}
		}
		for _, w := range append(apiWords, "Secrets Manager", "secretsmanager:") {
			if strings.Contains(msg, w) {
				t.Errorf("file, %s: %q speaks of %q", tc.name, msg, w)
			}
		}
	}
}
