package vault

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/secretsql/secretsql/internal/smallfile"
	"github.com/secretsql/secretsql/vault/vaulttest"
)

func TestParseAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query   string
		want    authConfig
		wantErr string // a part of the error; "" for none
	}{
		{query: "", want: authConfig{Method: "token"}},
		{query: "host=db&dbname=app", want: authConfig{Method: "token"}},
		{query: "auth=token", want: authConfig{Method: "token"}},
		{query: "token_file=/vault/secrets/token", want: authConfig{Method: "token", TokenFile: "/vault/secrets/token"}},
		{query: "auth=token&token_file=/a/../vault//token", want: authConfig{Method: "token", TokenFile: "/vault/token"}},
		{query: "auth=approle&role=4f1c&secret_id_file=/etc/app/sid", want: authConfig{Method: "approle", Role: "4f1c", SecretIDFile: "/etc/app/sid", Mount: "approle"}},
		{query: "auth=approle&role=r&secret_id_file=/sid&auth_mount=/team/approle/", want: authConfig{Method: "approle", Role: "r", SecretIDFile: "/sid", Mount: "team/approle"}},
		{query: "auth=kubernetes&role=app", want: authConfig{Method: "kubernetes", Role: "app", JWTFile: defaultJWTFile, Mount: "kubernetes"}},
		{query: "auth=kubernetes&role=app&jwt_file=/t/jwt&auth_mount=k8s-prod", want: authConfig{Method: "kubernetes", Role: "app", JWTFile: "/t/jwt", Mount: "k8s-prod"}},

		{query: "auth=ldap", wantErr: `unknown Vault auth method "ldap"`},
		{query: "auth=hvs.CAESIs3cr3ts3cr3t", wantErr: "unknown Vault auth method in DSN key auth"},
		{query: "auth=", wantErr: "auth is empty"},
		{query: "auth=token&auth=approle", wantErr: "auth is given 2 times"},
		{query: "auth=approle&secret_id_file=/sid", wantErr: "needs DSN key role"},
		{query: "auth=approle&role=r", wantErr: "needs DSN key secret_id_file"},
		{query: "auth=kubernetes", wantErr: "needs DSN key role"},
		{query: "auth=token&role=r", wantErr: "role does not go with auth=token"},
		{query: "token_file=/t&auth_mount=x", wantErr: "auth_mount does not go with auth=token"},
		{query: "auth=approle&role=r&secret_id_file=/s&token_file=/t", wantErr: "token_file does not go with auth=approle"},
		{query: "auth=approle&role=r&secret_id_file=/s&jwt_file=/t", wantErr: "jwt_file does not go with auth=approle"},
		{query: "auth=kubernetes&role=r&secret_id_file=/s", wantErr: "secret_id_file does not go with auth=kubernetes"},
		{query: "token_file=token", wantErr: "token_file must be an absolute path"},
		{query: "auth=approle&role=r&secret_id_file=./sid", wantErr: "secret_id_file must be an absolute path"},
		{query: "auth=kubernetes&role=r&jwt_file=jwt", wantErr: "jwt_file must be an absolute path"},
		{query: "auth=approle&role=r%0As3cr3t&secret_id_file=/s", wantErr: "role holds a control character"},
		{query: "token_file=/t%00x", wantErr: "token_file holds a control character"},
		{query: "auth=approle&role=%20s3cr3t&secret_id_file=/s", wantErr: "role begins or ends with white space"},
		{query: "auth=approle&role=r&secret_id_file=/s&auth_mount=a%3Fb", wantErr: "auth_mount may hold"},
		{query: "auth=approle&role=r&secret_id_file=/s&auth_mount=a/../b", wantErr: "auth_mount has an empty"},
		{query: "auth=approle&role=r&secret_id_file=/s&auth_mount=///", wantErr: "auth_mount is empty"},
		{query: "auth=kubernetes&role=", wantErr: "role is empty"},
	}
	for _, tt := range tests {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatalf("%q: %v", tt.query, err)
		}
		got, err := parseAuth(q)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseAuth(%q) error = %v, want one with %q", tt.query, err, tt.wantErr)
			}
			if err != nil {
				for _, secret := range []string{"s3cr3t", "CAESI"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("parseAuth(%q) error %q shows a value", tt.query, err)
					}
				}
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseAuth(%q) = %+v, %v, want %+v", tt.query, got, err, tt.want)
		}
	}
}

func authWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replace writes content to path atomically (as Vault Agent's sink does).
func authReplace(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	authWrite(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// client returns a new API client for srv with token tok, on an HTTP
// client of its own (returned too, to close its idle connections).
func authClient(t testing.TB, addr, tok string) (*api.Client, *http.Client) {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = 30 * time.Second
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearNamespace()
	if tok == "" {
		c.ClearToken()
	} else {
		c.SetToken(tok)
	}
	return c, cfg.HttpClient
}

// lookupSelf looks tok up on c's server: nil when Vault accepts it.
func authLookupSelf(ctx context.Context, c *api.Client, tok string) error {
	cc, err := c.Clone()
	if err != nil {
		return err
	}
	cc.SetToken(tok)
	_, err = cc.Auth().Token().LookupSelfWithContext(ctx)
	return err
}

// status is the HTTP status of a Vault error, 0 for another error.
func authStatus(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// childToken creates a token with the root client, with ttl.
func authChildToken(t testing.TB, srv *vaulttest.Server, ttl string) string {
	t.Helper()
	sec, err := srv.Client.Auth().Token().CreateWithContext(t.Context(), &api.TokenCreateRequest{TTL: ttl, Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	return sec.Auth.ClientToken
}

func TestEnvToken(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	c, _ := authClient(t, srv.Addr, srv.Token)
	a := newAuth(authConfig{}, nil, c)
	defer a.close()
	got, err := a.token(t.Context())
	if err != nil || got != srv.Token {
		t.Fatalf("token() = %v, want the client's token", err)
	}
	if want := envTokenIdentity(sha256.Sum256([]byte(srv.Token))); a.identity() != want {
		t.Errorf("identity() is not the SHA-256 of the token")
	}
	a.refused(got)
	if got, err := a.token(t.Context()); err != nil || got != srv.Token {
		t.Errorf("token() after refused() = %v, want the client's token still", err)
	}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v %#v %s", a, a, a)} {
		if strings.Contains(s, srv.Token) {
			t.Errorf("fmt shows the token: %s", s)
		}
	}
	if c.Token() != srv.Token {
		t.Errorf("the client's token changed")
	}
	// Without a token.
	c2, _ := authClient(t, srv.Addr, "")
	b := newAuth(authConfig{Method: "token"}, nil, c2)
	if _, err := b.token(t.Context()); err == nil || !strings.Contains(err.Error(), "VAULT_TOKEN") {
		t.Errorf("token() without a token: %v", err)
	}
	b.close()
	a.close()
	a.close() // idempotent
	if _, err := a.token(t.Context()); !errors.Is(err, errAuthClosed) {
		t.Errorf("token() after close() = %v, want errAuthClosed", err)
	}
}

func TestTokenFile(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	c, _ := authClient(t, srv.Addr, "")
	path := filepath.Join(t.TempDir(), "token")
	a := newAuth(authConfig{Method: "token", TokenFile: path}, nil, c)
	defer a.close()
	if a.identity() != (tokenFileIdentity{path}) {
		t.Errorf("identity() = %v, want the path", a.identity())
	}

	// No file yet: an error naming the path.
	if _, err := a.token(t.Context()); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("token() without the file: %v", err)
	}

	tok1 := authChildToken(t, srv, "1h")
	authReplace(t, path, tok1+"\n")
	got, err := a.token(t.Context())
	if err != nil || got != tok1 {
		t.Fatalf("token() = %v, want the file's token", err)
	}
	if err := authLookupSelf(t.Context(), c, got); err != nil {
		t.Fatalf("lookup-self with the file's token: %v", err)
	}

	// The Agent writes a new token: the next token() returns it.
	tok2 := authChildToken(t, srv, "1h")
	authReplace(t, path, "  "+tok2+"\r\n")
	if got, err := a.token(t.Context()); err != nil || got != tok2 {
		t.Fatalf("token() after the file changed: not the new token (%v)", err)
	}
	// Also when rewritten in place.
	tok3 := authChildToken(t, srv, "1h")
	authWrite(t, path, tok3)
	if got, err := a.token(t.Context()); err != nil || got != tok3 {
		t.Fatalf("token() after an in-place rewrite: not the new token (%v)", err)
	}

	// The file goes away for a moment: the last token serves until refused.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got, err := a.token(t.Context()); err != nil || got != tok3 {
		t.Errorf("token() with the file gone: %v, want the last token", err)
	}
	a.refused(tok3)
	if _, err := a.token(t.Context()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("token() with the file gone after refused(): %v, want fs.ErrNotExist", err)
	}

	// A revoked token: refused() and the Agent's next token.
	if err := srv.Client.Auth().Token().RevokeOrphanWithContext(t.Context(), tok3); err != nil {
		t.Fatal(err)
	}
	authWrite(t, path, tok3)
	got, _ = a.token(t.Context())
	if err := authLookupSelf(t.Context(), c, got); authStatus(err) != http.StatusForbidden {
		t.Fatalf("lookup-self with a revoked token: %v, want 403", err)
	}
	a.refused(got)
	tok4 := authChildToken(t, srv, "1h")
	authReplace(t, path, tok4)
	if got, err := a.token(t.Context()); err != nil || got != tok4 {
		t.Fatalf("token() after refused(): not the new token (%v)", err)
	} else if err := authLookupSelf(t.Context(), c, got); err != nil {
		t.Fatalf("lookup-self with the new token: %v", err)
	}

	// Files that are not a token.
	authWrite(t, path, "   \n")
	a.refused(tok4)
	if _, err := a.token(t.Context()); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("token() of an empty file: %v", err)
	}
	authWrite(t, path, "hvs.abc def")
	if _, err := a.token(t.Context()); err == nil || strings.Contains(err.Error(), "abc") {
		t.Errorf("token() of a file with a space inside: %v", err)
	}
	authWrite(t, path, strings.Repeat("x", 100<<10))
	if _, err := a.token(t.Context()); !errors.Is(err, smallfile.ErrTooLarge) || strings.Contains(err.Error(), "xxx") {
		t.Errorf("token() of a 100 KiB file: %v", err)
	}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v %#v", a, a)} {
		if strings.Contains(s, tok4) || !strings.Contains(s, path) {
			t.Errorf("fmt: %s", s)
		}
	}
	a.close()
	if _, err := a.token(t.Context()); !errors.Is(err, errAuthClosed) {
		t.Errorf("token() after close() = %v", err)
	}
}

// appRoleSetup enables AppRole on srv with a role whose tokens read
// secret/data/authtest, and writes a secret ID to a file.
func authAppRoleSetup(t testing.TB, srv *vaulttest.Server, cfg vaulttest.AppRoleConfig) (*vaulttest.AppRole, authConfig) {
	t.Helper()
	srv.Policy(t, "authtest", `path "secret/data/authtest" { capabilities = ["read"] }`)
	srv.PutKV(t, "authtest", map[string]any{"k": "v"})
	cfg.Policies = []string{"authtest"}
	r := srv.AppRole(t, "app", cfg)
	sidFile := filepath.Join(t.TempDir(), "secret-id")
	authWrite(t, sidFile, r.SecretID(t)+"\n")
	return r, authConfig{Method: "approle", Role: r.RoleID, SecretIDFile: sidFile, Mount: r.Mount}
}

// readKV reads secret/data/authtest with tok.
func authReadKV(ctx context.Context, c *api.Client, tok string) error {
	cc, err := c.Clone()
	if err != nil {
		return err
	}
	cc.SetToken(tok)
	_, err = cc.KVv2("secret").Get(ctx, "authtest")
	return err
}

// TestAppRoleRenewal uses the login token of a role with a 3 s TTL and an
// 8 s max TTL for 20 s: every token handed out is accepted, the token is
// renewed and replaced by new logins.
func TestAppRoleRenewal(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	_, cfg := authAppRoleSetup(t, srv, vaulttest.AppRoleConfig{TokenTTL: 3 * time.Second, TokenMaxTTL: 8 * time.Second})
	c, _ := authClient(t, srv.Addr, "")
	a := newAuth(cfg, nil, c)
	defer a.close()

	seen := map[string]bool{}
	var uses int
	end := time.Now().Add(20 * time.Second)
	for time.Now().Before(end) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		tok, err := a.token(ctx)
		if err != nil {
			cancel()
			t.Fatalf("token(): %v", err)
		}
		seen[tok] = true
		if err := authReadKV(ctx, c, tok); err != nil {
			cancel()
			t.Fatalf("reading with the token of login %d: %v", len(seen), err)
		}
		cancel()
		uses++
		time.Sleep(100 * time.Millisecond)
	}
	logins, renewals := a.stats()
	t.Logf("20 s, TTL 3 s, max TTL 8 s: %d reads, %d logins, %d renewals, %d distinct tokens", uses, logins, renewals, len(seen))
	if logins < 2 || renewals < 2 || int64(len(seen)) != logins {
		t.Errorf("%d logins, %d renewals, %d tokens seen: want >1 login, renewals, each login's token seen", logins, renewals, len(seen))
	}
}

func TestAppRoleRefused(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	_, cfg := authAppRoleSetup(t, srv, vaulttest.AppRoleConfig{TokenTTL: time.Hour})
	c, _ := authClient(t, srv.Addr, "")
	a := newAuth(cfg, nil, c)
	defer a.close()
	ctx := t.Context()

	tok1, err := a.token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := a.token(ctx); again != tok1 {
		t.Errorf("a second token() logged in again")
	}
	// refused() forgets the token: a fresh login.
	a.refused(tok1)
	tok2, err := a.token(ctx)
	if err != nil || tok2 == tok1 {
		t.Fatalf("token() after refused(): %v, same token %v", err, tok2 == tok1)
	}
	// A stale refused() (of a replaced token) changes nothing.
	a.refused(tok1)
	if got, _ := a.token(ctx); got != tok2 {
		t.Errorf("refused() of a replaced token dropped the current one")
	}
	// Revoked behind our back: Vault answers 403, refused(), a new login.
	if err := srv.Client.Auth().Token().RevokeOrphanWithContext(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	got, _ := a.token(ctx)
	if err := authReadKV(ctx, c, got); authStatus(err) != http.StatusForbidden {
		t.Fatalf("reading with a revoked token: %v, want 403", err)
	}
	a.refused(got)
	tok3, err := a.token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := authReadKV(ctx, c, tok3); err != nil {
		t.Fatalf("reading with the new login's token: %v", err)
	}
	if logins, _ := a.stats(); logins != 3 {
		t.Errorf("%d logins, want 3", logins)
	}
	if _, ok := a.identity().(loginIdentity); !ok || reflect.ValueOf(a.identity()).IsZero() {
		t.Errorf("identity() = %v", a.identity())
	}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%+v %#v", a, a), fmt.Sprint(a.identity())} {
		if strings.Contains(s, tok3) || strings.Contains(s, cfg.Role) {
			t.Errorf("fmt shows a secret: %s", s)
		}
	}
	a.mu.Lock()
	s := fmt.Sprintf("%v %+v %#v", a.cur, a.cur, a.cur.tok)
	a.mu.Unlock()
	if strings.Contains(s, tok3) {
		t.Errorf("fmt of a loginSession shows its token: %s", s)
	}
}

func TestAppRoleLoginErrors(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	_, cfg := authAppRoleSetup(t, srv, vaulttest.AppRoleConfig{TokenTTL: time.Hour})
	c, _ := authClient(t, srv.Addr, "")

	// A wrong secret ID: Vault's 400, wrapped, without the secret ID.
	bad := "0badbad0-1111-2222-3333-444455556666"
	authWrite(t, cfg.SecretIDFile, bad)
	a := newAuth(cfg, nil, c)
	_, err := a.token(t.Context())
	if authStatus(err) != http.StatusBadRequest || strings.Contains(err.Error(), bad) || strings.Contains(err.Error(), cfg.Role) {
		t.Errorf("login with a wrong secret ID: %v, want a 400 without the secret", err)
	}
	a.close()

	// A missing secret ID file: an error naming it.
	missing := cfg
	missing.SecretIDFile = filepath.Join(t.TempDir(), "none")
	a = newAuth(missing, nil, c)
	if _, err := a.token(t.Context()); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing.SecretIDFile) {
		t.Errorf("login without the secret ID file: %v", err)
	}
	a.close()

	// Vault unreachable: a network error, not a ResponseError.
	down, _ := authClient(t, "http://127.0.0.1:1", "")
	a = newAuth(cfg, nil, down)
	if _, err := a.token(t.Context()); err == nil || authStatus(err) != 0 {
		t.Errorf("login to nowhere: %v", err)
	}
	a.close()
}

// authBlockingMethod is a caller's api.AuthMethod that counts its logins and
// waits for release before each.
type authBlockingMethod struct {
	inner   api.AuthMethod
	release chan struct{}
	calls   atomic.Int64
}

func (m *authBlockingMethod) Login(ctx context.Context, c *api.Client) (*api.Secret, error) {
	m.calls.Add(1)
	select {
	case <-m.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return m.inner.Login(ctx, c)
}

func TestLoginCoalescing(t *testing.T) {
	t.Parallel()
	srv := vaulttest.Start(t)
	r, cfg := authAppRoleSetup(t, srv, vaulttest.AppRoleConfig{TokenTTL: time.Hour})
	c, _ := authClient(t, srv.Addr, "")

	// 50 concurrent callers: one login, one token.
	a := newAuth(cfg, nil, c)
	defer a.close()
	var wg sync.WaitGroup
	toks := make([]string, 50)
	errs := make([]error, 50)
	for i := range toks {
		wg.Go(func() { toks[i], errs[i] = a.token(t.Context()) })
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %v, same token %v", i, errs[i], toks[i] == toks[0])
		}
	}
	if logins, _ := a.stats(); logins != 1 || a.loginErrors.Load() != 0 {
		t.Errorf("50 concurrent callers: %d logins (%d failed), want 1", logins, a.loginErrors.Load())
	}

	// A caller's AuthMethod: a caller that gives up does not spoil the
	// login for the next one.
	inner, err := approle.NewAppRoleAuth(r.RoleID, &approle.SecretID{FromString: r.SecretID(t)}, approle.WithMountPath(r.Mount))
	if err != nil {
		t.Fatal(err)
	}
	m := &authBlockingMethod{inner: inner, release: make(chan struct{})}
	b := newAuth(authConfig{}, m, c)
	defer b.close()
	if b.identity() != (methodIdentity{m}) {
		t.Errorf("identity() of a caller's method = %v", b.identity())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	start := time.Now()
	_, err = b.token(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("a caller whose ctx ends: %v after %v", err, time.Since(start))
	}
	next := make(chan error, 1)
	go func() {
		tok, err := b.token(t.Context())
		if err == nil {
			err = authReadKV(t.Context(), c, tok)
		}
		next <- err
	}()
	time.Sleep(50 * time.Millisecond)
	close(m.release)
	if err := <-next; err != nil {
		t.Fatalf("the next caller: %v", err)
	}
	if n := m.calls.Load(); n != 1 {
		t.Errorf("%d logins of the caller's method, want 1", n)
	}
	// A method value that is not comparable gets an identity of its own.
	type funcMethod struct{ _ func() } // a func field: not comparable
	var fm api.AuthMethod = struct {
		api.AuthMethod
		funcMethod
	}{m, funcMethod{}}
	x, y := newAuth(authConfig{}, fm, c), newAuth(authConfig{}, fm, c)
	if x.identity() == y.identity() {
		t.Errorf("two auths of an incomparable method share an identity")
	}
	x.close()
	y.close()
}

// TestAuthClose checks that close() ends the renewer and logins in flight
// and leaves no goroutine behind. Not parallel: it counts goroutines.
func TestAuthClose(t *testing.T) {
	srv := vaulttest.Start(t)
	r, cfg := authAppRoleSetup(t, srv, vaulttest.AppRoleConfig{TokenTTL: 2 * time.Second, TokenMaxTTL: 4 * time.Second})
	c, hc := authClient(t, srv.Addr, "")
	// The second auth's method, made before the count: the root client's
	// connections count too.
	inner, err := approle.NewAppRoleAuth(r.RoleID, &approle.SecretID{FromString: r.SecretID(t)}, approle.WithMountPath(r.Mount))
	if err != nil {
		t.Fatal(err)
	}
	hc.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	a := newAuth(cfg, nil, c)
	if _, err := a.token(t.Context()); err != nil {
		t.Fatal(err)
	}
	// One renewal (due at 1.33 s): the renewer runs when close() comes.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, renewals := a.stats(); renewals > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no renewal of a 2 s token in 30 s")
		}
	}
	a.close()
	a.close()
	if _, err := a.token(t.Context()); !errors.Is(err, errAuthClosed) {
		t.Errorf("token() after close() = %v", err)
	}

	// close() during a login that hangs: the login ends, waiters return.
	m := &authBlockingMethod{inner: inner, release: make(chan struct{})}
	b := newAuth(authConfig{}, m, c)
	waiter := make(chan error, 1)
	go func() { _, err := b.token(t.Context()); waiter <- err }()
	for m.calls.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	b.close()
	select {
	case err := <-waiter:
		if err == nil {
			t.Errorf("a waiter got a token from a login cut by close()")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter still waits 5 s after close()")
	}

	deadline := time.Now().Add(5 * time.Second)
	for {
		hc.CloseIdleConnections()
		n := runtime.NumGoroutine()
		if n <= baseline {
			t.Logf("goroutines: %d at the start, %d after close()", baseline, n)
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d at the start, %d after close():\n%s", baseline, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
