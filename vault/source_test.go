package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/secretsql/secretsql/credential"
)

const srcFakeToken = "hvs.FAKE-TOKEN-must-not-leak"

// srcFreePort returns a TCP port of 127.0.0.1 nobody listens on.
func srcFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// srcFake answers with handler; it counts the requests per path.
type srcFake struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func newSrcFake(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *srcFake {
	f := &srcFake{calls: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls[strings.TrimPrefix(r.URL.Path, "/v1/")]++
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *srcFake) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

// source returns a Source of path on f, with a client that reads no
// environment variable.
func (f *srcFake) source(t *testing.T, path string) *Source {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = f.URL
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(srcFakeToken)
	s, err := New(path, WithClient(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func srcReply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func srcFetch(s *Source, rejected string) (credential.Credential, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Fetch(ctx, credential.Request{Rejected: rejected})
}

// TestClassify: Vault's status codes make the error kinds; messages name
// the operation, the path and the server, never the token.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status     int
		body       string
		answerKind error
		want       string
	}{
		{403, `{"errors":["permission denied"]}`, ErrPermissionDenied, "permission denied"},
		{404, `{"errors":[]}`, ErrNotFound, "HTTP 404"},
		{400, `{"errors":["unknown role: nope"]}`, ErrNotFound, "nope"},
		{503, `{"errors":["Vault is sealed"]}`, ErrUnavailable, "sealed"},
		{500, `{"errors":["internal error"]}`, ErrUnavailable, "internal error"},
		{429, `{"errors":["quota"]}`, ErrUnavailable, "quota"},
		{502, "<html>" + strings.Repeat("x\x1b[31m", 500) + srcFakeToken, ErrUnavailable, "not Vault's JSON"},
		{400, `{"errors":["` + strings.Repeat("y", 5000) + `\u0007"]}`, nil, "yyyy"},
	} {
		t.Run(strconv.Itoa(c.status), func(t *testing.T) {
			f := newSrcFake(t, func(w http.ResponseWriter, r *http.Request) { srcReply(w, c.status, c.body) })
			s := f.source(t, "database/creds/app")
			_, err := srcFetch(s, "")
			var ve *Error
			if !errors.As(err, &ve) || ve.Status != c.status {
				t.Fatalf("%v: want a *vault.Error with status %d", err, c.status)
			}
			if c.answerKind != nil && !errors.Is(err, c.answerKind) {
				t.Errorf("%v: want %v", err, c.answerKind)
			}
			msg := fmt.Sprintf("%v %+v", err, err)
			for _, want := range []string{"read", "database/creds/app", f.URL, c.want} {
				if !strings.Contains(msg, want) {
					t.Errorf("%q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg, srcFakeToken) || strings.ContainsAny(err.Error(), "\x1b\x07") || len(err.Error()) > 1200 {
				t.Errorf("unbounded or leaking message (%d bytes): %q", len(err.Error()), err.Error())
			}
		})
	}
}

// TestForbiddenRetriedOnce: a 403 makes the source ask auth for a new
// token and try once more.
func TestForbiddenRetriedOnce(t *testing.T) {
	f := newSrcFake(t, func(w http.ResponseWriter, r *http.Request) { srcReply(w, 403, `{"errors":["permission denied"]}`) })
	s := f.source(t, "database/creds/app")
	if _, err := srcFetch(s, ""); !errors.Is(err, ErrPermissionDenied) {
		t.Fatal(err)
	}
	if n := f.count("database/creds/app"); n != 2 {
		t.Errorf("%d requests, want 2 (one retry with a new token)", n)
	}
}

// TestUnavailable: a server that does not answer, or refuses connections.
func TestUnavailable(t *testing.T) {
	addr := "http://127.0.0.1:" + strconv.Itoa(srcFreePort(t))
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	c, _ := api.NewClient(cfg)
	c.SetToken(srcFakeToken)
	s, err := New("database/creds/app", WithClient(c))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = srcFetch(s, "")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), srcFakeToken) {
		t.Errorf("%v: want ErrUnavailable naming %s", err, addr)
	}

	hang := make(chan struct{})
	defer close(hang)
	f := newSrcFake(t, func(w http.ResponseWriter, r *http.Request) { <-hang })
	s2 := f.source(t, "database/creds/app")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s2.Fetch(ctx, credential.Request{})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("%v after %v: want ErrUnavailable at the context's deadline", err, time.Since(start))
	}
}

// TestBoundedAnswers: a huge body, a redirect to another host, malformed
// JSON and answers without credentials are errors.
func TestBoundedAnswers(t *testing.T) {
	other := newSrcFake(t, func(w http.ResponseWriter, r *http.Request) {
		srcReply(w, 200, `{"data":{"username":"u","password":"p"}}`)
	})
	for _, c := range []struct {
		name       string
		h          func(w http.ResponseWriter, r *http.Request)
		answerKind error
	}{
		{"huge", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			io.WriteString(w, `{"data":{"username":"u","password":"`)
			for range 2 << 10 {
				io.WriteString(w, strings.Repeat("p", 1<<10))
			}
			io.WriteString(w, `"}}`)
		}, ErrBadAnswer},
		{"huge declared", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(4<<20))
			w.WriteHeader(200)
		}, ErrBadAnswer},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}, ErrUnavailable},
		{"malformed", func(w http.ResponseWriter, r *http.Request) { srcReply(w, 200, `{"data":`) }, ErrBadAnswer},
		{"no password", func(w http.ResponseWriter, r *http.Request) {
			srcReply(w, 200, `{"lease_id":"database/creds/app/x","lease_duration":60,"data":{"username":"u"}}`)
		}, ErrBadAnswer},
		{"deleted kv version", func(w http.ResponseWriter, r *http.Request) {
			srcReply(w, 200, `{"data":{"data":null,"metadata":{"version":3,"deletion_time":"2026-01-01T00:00:00Z"}}}`)
		}, ErrBadAnswer},
		{"empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newSrcFake(t, c.h)
			s := f.source(t, "database/creds/app")
			_, err := srcFetch(s, "")
			if !errors.Is(err, c.answerKind) {
				t.Errorf("%v: want %v", err, c.answerKind)
			}
			if err != nil && strings.Contains(err.Error(), "pppp") {
				t.Errorf("the body in the error")
			}
		})
	}
	if other.count("database/creds/app") != 0 {
		t.Error("the redirect to another host was followed")
	}
}

// TestAnswers: the kind of credential comes from the answer.
func TestAnswers(t *testing.T) {
	var rotation atomic.Value
	rotation.Store("2026-12-06T10:00:00Z")
	var kvVersion atomic.Int64
	kvVersion.Store(1)
	var renewTTL atomic.Int64
	renewTTL.Store(60)
	f := newSrcFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch strings.TrimPrefix(r.URL.Path, "/v1/") {
		case "db/creds/app":
			srcReply(w, 200, `{"lease_id":"db/creds/app/`+strconv.Itoa(int(time.Now().UnixNano()))+`","renewable":true,"lease_duration":60,"data":{"username":"v-app","password":"pw"}}`)
		case "sys/leases/renew":
			srcReply(w, 200, `{"lease_id":"x","renewable":true,"lease_duration":`+strconv.FormatInt(renewTTL.Load(), 10)+`}`)
		case "sys/leases/revoke":
			w.WriteHeader(204)
		case "db/static-creds/st":
			srcReply(w, 200, `{"data":{"username":"st","password":"pw","last_vault_rotation":"`+rotation.Load().(string)+`","rotation_period":3600,"ttl":100}}`)
		case "secret/data/app":
			srcReply(w, 200, `{"data":{"data":{"username":"kv","password":"pw","host":"db.example","port":"5433","dbname":"app","engine":"postgres"},"metadata":{"version":`+strconv.FormatInt(kvVersion.Load(), 10)+`}}}`)
		case "kv1/app":
			srcReply(w, 200, `{"data":{"username":"plain","password":"pw","port":3306}}`)
		default:
			srcReply(w, 404, `{"errors":[]}`)
		}
	})

	t.Run("dynamic", func(t *testing.T) {
		s := f.source(t, "db/creds/app")
		c1, err := srcFetch(s, "")
		if err != nil || !c1.Retire || c1.Expiry.IsZero() || !strings.HasPrefix(c1.Version, "db/creds/app/") || c1.Password() != "pw" {
			t.Fatalf("%v %+v", err, c1)
		}
		c2, err := srcFetch(s, "") // renews
		if err != nil || c2.Version != c1.Version || !c2.Expiry.After(c1.Expiry) || f.count("sys/leases/renew") != 1 {
			t.Fatalf("renewal: %v %+v, %d renewals", err, c2, f.count("sys/leases/renew"))
		}
		renewTTL.Store(10) // capped
		c3, err := srcFetch(s, "")
		if err != nil || c3.Version != c1.Version {
			t.Fatalf("capped renewal: %v", err)
		}
		c4, err := srcFetch(s, "") // a new lease now
		if err != nil || c4.Version == c1.Version || f.count("sys/leases/renew") != 2 {
			t.Fatalf("after a capped renewal: %v, same version %v, %d renewals", err, c4.Version == c1.Version, f.count("sys/leases/renew"))
		}
		renewTTL.Store(60)
		c5, err := srcFetch(s, c4.Version) // rejected: a new lease
		if err != nil || c5.Version == c4.Version {
			t.Fatalf("after a rejection: %v, same version %v", err, c5.Version == c4.Version)
		}
		if d := s.Describe(); d.Name != "vault" || !d.ReleaseIdle || d.Identity == nil {
			t.Errorf("Describe: %+v", d)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if n := f.count("sys/leases/revoke"); n != 3 {
			t.Errorf("Close revoked %d leases, want 3", n)
		}
		if _, err := srcFetch(s, ""); !errors.Is(err, ErrClosed) {
			t.Errorf("Fetch after Close: %v", err)
		}
		if err := s.Close(); err != nil || f.count("sys/leases/revoke") != 3 {
			t.Errorf("a second Close: %v", err)
		}
	})
	t.Run("static", func(t *testing.T) {
		s := f.source(t, "db/static-creds/st")
		c1, err := srcFetch(s, "")
		if err != nil || c1.Retire || c1.Version != "static:2026-12-06T10:00:00Z" {
			t.Fatalf("%v %+v %s", err, c1, c1.Version)
		}
		if left := time.Until(c1.Expiry); left < 100*time.Second || left > 110*time.Second {
			t.Errorf("expiry in %v, want the next rotation (100 s) and a little", left)
		}
		go func() {
			time.Sleep(500 * time.Millisecond)
			rotation.Store("2026-12-06T11:00:00Z")
		}()
		c2, err := srcFetch(s, c1.Version) // waits: the new rotation shows only after 500 ms
		if err != nil || c2.Version != "static:2026-12-06T11:00:00Z" {
			t.Fatalf("after a rejection: %v %s", err, c2.Version)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		c3, err := s.Fetch(ctx, credential.Request{Rejected: c2.Version})
		if err != nil || c3.Version != c2.Version {
			t.Errorf("nothing newer: %v %s, want the same version", err, c3.Version)
		}
	})
	t.Run("kv2", func(t *testing.T) {
		s := f.source(t, "secret/data/app")
		c, err := srcFetch(s, "")
		if err != nil || c.Version != "kv:1" || c.Host != "db.example" || c.Port != 5433 || c.Database != "app" || c.Engine != "postgres" || !c.Expiry.IsZero() {
			t.Fatalf("%v %+v", err, c)
		}
		if c, err := srcFetch(s, "kv:1"); err != nil || c.Version != "kv:1" {
			t.Fatalf("nothing newer: %v %s", err, c.Version)
		}
		kvVersion.Store(2)
		if c, err := srcFetch(s, "kv:1"); err != nil || c.Version != "kv:2" {
			t.Fatalf("a new version: %v %s", err, c.Version)
		}
	})
	t.Run("kv1", func(t *testing.T) {
		s := f.source(t, "kv1/app")
		c, err := srcFetch(s, "")
		if err != nil || c.Username != "plain" || c.Port != 3306 || !strings.HasPrefix(c.Version, "plain:") {
			t.Fatalf("%v %+v", err, c)
		}
	})
}

// TestCloseBounded: Close returns within closeTimeout when Vault hangs.
func TestCloseBounded(t *testing.T) {
	defer func(d time.Duration) { closeTimeout = d }(closeTimeout)
	closeTimeout = 500 * time.Millisecond
	hang := make(chan struct{})
	defer close(hang)
	f := newSrcFake(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/revoke") {
			<-hang
			return
		}
		srcReply(w, 200, `{"lease_id":"db/creds/app/`+strconv.Itoa(int(time.Now().UnixNano()))+`","renewable":true,"lease_duration":60,"data":{"username":"v","password":"pw"}}`)
	})
	s := f.source(t, "db/creds/app")
	for range 3 {
		c, err := srcFetch(s, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srcFetch(s, c.Version); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	err := s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Close: %v, want ErrUnavailable", err)
	}
}

// TestWithClientUntouched: the caller's client is cloned, never changed.
func TestWithClientUntouched(t *testing.T) {
	f := newSrcFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vault-Token") != srcFakeToken || r.Header.Get("X-Vault-Namespace") != "team" {
			srcReply(w, 403, `{"errors":["permission denied"]}`)
			return
		}
		srcReply(w, 200, `{"data":{"username":"u","password":"p"}}`)
	})
	cfg := api.DefaultConfig()
	cfg.Address = f.URL
	c, _ := api.NewClient(cfg)
	c.SetToken(srcFakeToken)
	transport := c.CloneConfig().HttpClient.Transport
	s, err := New("kv/app", WithClient(c), WithNamespace("team"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := srcFetch(s, ""); err != nil {
		t.Fatal(err)
	}
	if c.Namespace() != "" || c.Token() != srcFakeToken || c.CloneConfig().HttpClient.Transport != transport {
		t.Error("the caller's client was changed")
	}
	if got := fmt.Sprintf("%v|%+v|%#v|%s", s, s, s, s); strings.Contains(got, srcFakeToken) || !strings.Contains(got, "kv/app") {
		t.Errorf("printed as %q", got)
	}
}
