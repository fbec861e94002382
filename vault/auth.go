package vault

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"
	"github.com/secretsql/secretsql/internal/smallfile"
)

// Login methods of a DSN's auth key.
const (
	authToken      = "token"
	authAppRole    = "approle"
	authKubernetes = "kubernetes"
)

// Defaults of the login methods.
const (
	// maxSecretFileSize bounds what is read from a token, secret ID or JWT
	// file: a Vault token is about 100 bytes, a service account JWT a few
	// KiB.
	maxSecretFileSize = 64 << 10
	// defaultJWTFile is where Kubernetes mounts a pod's service account
	// token.
	defaultJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	// authLoginTimeout bounds a login, authRenewTimeout a renewal of a login token.
	authLoginTimeout = 30 * time.Second
	authRenewTimeout = 30 * time.Second
	// authRetryMin and authRetryMax bound the wait before the renewer tries again
	// after a failed renewal or login.
	authRetryMin = 500 * time.Millisecond
	authRetryMax = 30 * time.Second
	// handoutGuard is the most of a login token's life token() keeps in
	// hand: a token with less left (or less than a tenth of its TTL) is
	// not handed out, a new login is made instead.
	handoutGuard = 5 * time.Second
)

// authKeys are the DSN keys parseAuth reads.
var authKeys = []string{"auth", "token_file", "role", "secret_id_file", "jwt_file", "auth_mount"}

// authConfig is what a DSN (or an option) says about logging in.
type authConfig struct {
	// Method is "token" (the default when empty), "approle" or
	// "kubernetes".
	Method string
	// TokenFile is, for Method "token", a file holding the token (Vault
	// Agent's sink); empty for the client's token (VAULT_TOKEN).
	TokenFile string
	// Role is the AppRole role_id, or the Kubernetes auth role's name.
	Role string
	// SecretIDFile is the file holding the AppRole secret_id.
	SecretIDFile string
	// JWTFile is the file holding the Kubernetes service account token.
	JWTFile string
	// Mount is the auth method's mount path ("approle", "kubernetes").
	Mount string
}

// parseAuth reads the login keys of a DSN's query (auth, token_file, role,
// secret_id_file, jwt_file, auth_mount) and checks them without any I/O:
// the method must be known, the keys must belong to it, AppRole needs role
// and secret_id_file, Kubernetes needs role, file paths must be absolute,
// no value may hold a control character. Defaults are filled in (mounts
// "approle" and "kubernetes", the pod's service account token file). Errors
// name keys, never values (a value could be a secret put in the wrong key),
// except a method name that looks like one.
func parseAuth(q url.Values) (authConfig, error) {
	get := make(map[string]string, len(authKeys))
	for _, k := range authKeys {
		vs, ok := q[k]
		if !ok {
			continue
		}
		if len(vs) != 1 {
			return authConfig{}, fmt.Errorf("DSN key %s is given %d times", k, len(vs))
		}
		v := vs[0]
		if v == "" {
			return authConfig{}, fmt.Errorf("DSN key %s is empty", k)
		}
		if hasControlChar(v) {
			return authConfig{}, fmt.Errorf("DSN key %s holds a control character", k)
		}
		if strings.TrimSpace(v) != v {
			return authConfig{}, fmt.Errorf("DSN key %s begins or ends with white space", k)
		}
		get[k] = v
	}
	cfg := authConfig{Method: get["auth"]}
	if cfg.Method == "" {
		cfg.Method = authToken
	}
	var allowed, required []string
	switch cfg.Method {
	case authToken:
		allowed = []string{"token_file"}
	case authAppRole:
		allowed = []string{"role", "secret_id_file", "auth_mount"}
		required = []string{"role", "secret_id_file"}
	case authKubernetes:
		allowed = []string{"role", "jwt_file", "auth_mount"}
		required = []string{"role"}
	default:
		if authMethodLike(cfg.Method) {
			return authConfig{}, fmt.Errorf("unknown Vault auth method %q in DSN key auth (want token, approle or kubernetes)", cfg.Method)
		}
		return authConfig{}, errors.New("unknown Vault auth method in DSN key auth (want token, approle or kubernetes)")
	}
	for _, k := range authKeys[1:] {
		if _, ok := get[k]; ok && !slices.Contains(allowed, k) {
			return authConfig{}, fmt.Errorf("DSN key %s does not go with auth=%s", k, cfg.Method)
		}
	}
	for _, k := range required {
		if _, ok := get[k]; !ok {
			return authConfig{}, fmt.Errorf("auth=%s needs DSN key %s", cfg.Method, k)
		}
	}
	cfg.Role = get["role"]
	var err error
	if cfg.TokenFile, err = authFilePath(get, "token_file"); err != nil {
		return authConfig{}, err
	}
	if cfg.SecretIDFile, err = authFilePath(get, "secret_id_file"); err != nil {
		return authConfig{}, err
	}
	if cfg.JWTFile, err = authFilePath(get, "jwt_file"); err != nil {
		return authConfig{}, err
	}
	if m, ok := get["auth_mount"]; ok {
		if cfg.Mount, err = authCleanMount(m); err != nil {
			return authConfig{}, err
		}
	}
	switch cfg.Method {
	case authAppRole:
		if cfg.Mount == "" {
			cfg.Mount = authAppRole
		}
	case authKubernetes:
		if cfg.Mount == "" {
			cfg.Mount = authKubernetes
		}
		if cfg.JWTFile == "" {
			cfg.JWTFile = defaultJWTFile
		}
	}
	return cfg, nil
}

// filePath returns the cleaned path of key, which must be absolute: a
// relative path would depend on the process's working directory.
func authFilePath(get map[string]string, key string) (string, error) {
	p, ok := get[key]
	if !ok {
		return "", nil
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("DSN key %s must be an absolute path", key)
	}
	return filepath.Clean(p), nil
}

// cleanMount checks an auth mount path (without the "auth/" prefix Vault's
// routes add) and trims its slashes.
func authCleanMount(m string) (string, error) {
	m = strings.Trim(m, "/")
	if m == "" {
		return "", errors.New("DSN key auth_mount is empty")
	}
	for _, r := range m {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./", r)) {
			return "", errors.New("DSN key auth_mount may hold letters, digits, '-', '_', '.' and '/' only")
		}
	}
	for seg := range strings.SplitSeq(m, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", errors.New("DSN key auth_mount has an empty, \".\" or \"..\" path segment")
		}
	}
	return m, nil
}

// methodLike reports whether s looks like the name of a method (short,
// lower case), not like a token put in the wrong key: only then is it
// quoted in an error.
func authMethodLike(s string) bool {
	if len(s) > 20 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// redacted is a secret string (a token) that fmt never prints.
type redacted struct{ s string }

func (redacted) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[REDACTED]") }
func (redacted) String() string             { return "[REDACTED]" }
func (redacted) GoString() string           { return "[REDACTED]" }

// loginSession is one login's token and what is known of its lease. Its fields
// other than tok and ttl0 are guarded by auth.mu.
type loginSession struct {
	tok redacted
	// ttl0 is the login's lease duration, the increment of each renewal;
	// 0 for a token that does not expire.
	ttl0 time.Duration
	// renewable is the lease's renewable flag, from the login or the last
	// renewal.
	renewable bool
	// expires is when the token ends (zero: never): the time its login or
	// last renewal was sent plus the lease duration Vault answered.
	expires time.Time
	// next is when the renewer acts: renews at 2/3 of the lease, or, when
	// the last renewal was capped by the max TTL (capped) or the token is
	// not renewable, logs in anew at 2/3 of what is left.
	next   time.Time
	capped bool
}

// Format prints no token.
func (s *loginSession) Format(f fmt.State, _ rune) {
	if s == nil {
		fmt.Fprint(f, "vault.loginSession(nil)")
		return
	}
	fmt.Fprintf(f, "vault.loginSession{token: [REDACTED], ttl: %v, renewable: %v}", s.ttl0, s.renewable)
}

// usable reports whether s may be handed out at now: it does not expire
// within its guard (a tenth of its TTL, at most handoutGuard).
func (s *loginSession) usable(now time.Time) bool {
	if s.expires.IsZero() {
		return true
	}
	return now.Before(s.expires.Add(-min(s.ttl0/10, handoutGuard)))
}

// schedule sets s's lease from an answer sent at sent: its expiry and the
// renewer's next action.
func (s *loginSession) schedule(sent time.Time, lease time.Duration, renewable bool) {
	s.renewable = renewable
	if lease <= 0 {
		s.expires, s.next = time.Time{}, time.Time{}
		return
	}
	s.expires = sent.Add(lease)
	s.next = sent.Add(lease * 2 / 3)
}

// loginCall is one login in flight, shared by every caller waiting for it.
type loginCall struct {
	done chan struct{} // closed when s and err are set
	s    *loginSession
	err  error
}

// errAuthClosed is token()'s error after close().
var errAuthClosed = errors.New("the Vault login is closed")

// auth hands out the client token to use: the client's (VAULT_TOKEN), one
// read from a file (Vault Agent's sink), or one from a login (AppRole,
// Kubernetes, a caller's api.AuthMethod) kept renewed in the background and
// replaced by a new login when it cannot be renewed any longer or Vault
// refuses it. Printing it with fmt shows no token, secret ID or JWT (they
// live behind pointers and in redacted values; Format prints the method).
type auth struct {
	cfg    authConfig
	method api.AuthMethod // a caller's, or nil
	client *api.Client    // the caller's; cloned, never changed
	env    *redacted      // Method token without a file: the client's token
	id     any

	ctx    context.Context // cancelled by close(): ends logins and renewals
	cancel context.CancelFunc
	wake   chan struct{} // tells the renewer that the current session changed
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	cur      *loginSession // the current login token; nil before the first login and after refused()
	pending  *loginCall    // the login in flight
	renewing bool          // the renewer goroutine was started
	fileLast *redacted     // the last token read from TokenFile, nil after refused()

	logins, renewals, loginErrors atomic.Int64
}

// Format prints the method and mount, no secret.
func (a *auth) Format(f fmt.State, _ rune) {
	if a == nil {
		fmt.Fprint(f, "vault.auth(nil)")
		return
	}
	switch {
	case a.method != nil:
		fmt.Fprintf(f, "vault.auth{method: %T}", a.method)
	case a.fileMode():
		fmt.Fprintf(f, "vault.auth{method: token, token_file: %s}", a.cfg.TokenFile)
	case a.loginMode():
		fmt.Fprintf(f, "vault.auth{method: %s, mount: %s}", a.cfg.Method, a.cfg.Mount)
	default:
		fmt.Fprint(f, "vault.auth{method: token}")
	}
}

// String is Format's %v.
func (a *auth) String() string { return fmt.Sprint(a) }

// Identities of the readers (auth.identity): comparable, distinct per kind.
type (
	envTokenIdentity  [sha256.Size]byte
	tokenFileIdentity struct{ path string }
	loginIdentity     struct {
		method, mount string
		role          string // the Kubernetes role, or a SHA-256 of the AppRole role_id
		file          string // secret_id_file or jwt_file
	}
	methodIdentity struct{ m api.AuthMethod }
	uniqueIdentity struct{ _ byte } // a pointer to one names nothing else
)

// newAuth returns the login of cfg, or of method when it is not nil (a
// caller's api.AuthMethod, whatever cfg says). c is a client configured
// for the server; for Method token without a file its token is the one
// handed out. c is never changed: requests go through clones.
func newAuth(cfg authConfig, method api.AuthMethod, c *api.Client) *auth {
	if cfg.Method == "" {
		cfg.Method = authToken
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &auth{
		cfg:    cfg,
		method: method,
		client: c,
		ctx:    ctx,
		cancel: cancel,
		wake:   make(chan struct{}, 1),
	}
	switch {
	case method != nil:
		if reflect.ValueOf(method).Comparable() {
			a.id = methodIdentity{method}
		} else {
			a.id = &uniqueIdentity{}
		}
	case a.fileMode():
		a.id = tokenFileIdentity{cfg.TokenFile}
	case cfg.Method == authAppRole:
		a.id = loginIdentity{method: cfg.Method, mount: cfg.Mount, role: fmt.Sprintf("%x", sha256.Sum256([]byte(cfg.Role))), file: cfg.SecretIDFile}
	case cfg.Method == authKubernetes:
		a.id = loginIdentity{method: cfg.Method, mount: cfg.Mount, role: cfg.Role, file: cfg.JWTFile}
	default:
		tok := ""
		if c != nil {
			tok = c.Token()
		}
		a.env = &redacted{tok}
		a.id = envTokenIdentity(sha256.Sum256([]byte(tok)))
	}
	return a
}

func (a *auth) fileMode() bool {
	return a.method == nil && a.cfg.Method == authToken && a.cfg.TokenFile != ""
}

func (a *auth) loginMode() bool {
	return a.method != nil || a.cfg.Method == authAppRole || a.cfg.Method == authKubernetes
}

// identity names who reads, for sharing a cache entry: a SHA-256 of the
// client's token (never the token), the token file's path, the AppRole
// mount, role_id (hashed) and secret_id_file, the Kubernetes mount, role
// and jwt_file, or a caller's AuthMethod itself when it is comparable (a
// pointer), a value of its own otherwise.
func (a *auth) identity() any { return a.id }

// stats returns how many logins and renewals of login tokens succeeded.
func (a *auth) stats() (logins, renewals int64) { return a.logins.Load(), a.renewals.Load() }

// token returns the client token to use now. For a login method, the first
// call logs in (concurrent callers share one login; a caller gives up when
// its ctx ends without disturbing the login, which the others and later
// calls get), and a token is never handed out past its expiry (or within a
// tenth of its TTL of it): a new login is made instead.
func (a *auth) token(ctx context.Context) (string, error) {
	switch {
	case a.loginMode():
		return a.loginToken(ctx)
	case a.fileMode():
		return a.fileToken()
	}
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return "", errAuthClosed
	}
	if a.env.s == "" {
		return "", errors.New("no Vault token: VAULT_TOKEN is not set (or use token_file= or auth=approle|kubernetes)")
	}
	return a.env.s, nil
}

// fileToken reads the token file (at most maxSecretFileSize bytes, a regular
// file only) at every call, so a token the Agent rewrote is used at once.
// When the file cannot be read or is empty, the last token read is used
// until Vault refuses it; without one, the error names the file.
func (a *auth) fileToken() (string, error) {
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return "", errAuthClosed
	}
	tok, err := readTokenFile(a.cfg.TokenFile)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		if a.fileLast != nil {
			return a.fileLast.s, nil
		}
		return "", err
	}
	a.fileLast = &redacted{tok}
	return tok, nil
}

// readTokenFile reads a Vault token from path: trimmed, non-empty, with
// only the characters a token can carry in a header.
func readTokenFile(path string) (string, error) {
	tok, err := readSecretFile(path, "token_file")
	if err != nil {
		return "", err
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c >= 0x7f {
			return "", fmt.Errorf("token_file %s: the file holds characters a Vault token cannot have", path)
		}
	}
	return tok, nil
}

// readSecretFile reads the secret in path (the file of DSN key key):
// bounded, trimmed of white space, non-empty. Errors name the path, never
// the content.
func readSecretFile(path, key string) (string, error) {
	b, err := smallfile.Read(path, maxSecretFileSize)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s %s: the file is empty", key, path)
	}
	return s, nil
}

// loginToken returns the current login token, logging in if there is none
// or it is no longer usable.
func (a *auth) loginToken(ctx context.Context) (string, error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return "", errAuthClosed
	}
	if s := a.cur; s != nil && s.usable(time.Now()) {
		a.mu.Unlock()
		return s.tok.s, nil
	}
	call := a.loginLocked()
	a.mu.Unlock()
	select {
	case <-call.done:
		if call.err != nil {
			return "", call.err
		}
		return call.s.tok.s, nil
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for a Vault login: %w", context.Cause(ctx))
	}
}

// loginLocked returns the login in flight, starting one if there is none.
// a.mu is held and a is not closed.
func (a *auth) loginLocked() *loginCall {
	if a.pending != nil {
		return a.pending
	}
	call := &loginCall{done: make(chan struct{})}
	a.pending = call
	a.wg.Add(1)
	go a.runLogin(call)
	return call
}

// runLogin makes the login of call, with a context of its own (bounded by
// authLoginTimeout and close(), not by any caller's), and makes its token the
// current one.
func (a *auth) runLogin(call *loginCall) {
	defer a.wg.Done()
	ctx, cancel := context.WithTimeout(a.ctx, authLoginTimeout)
	s, err := a.login(ctx)
	cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pending = nil
	call.s, call.err = s, err
	close(call.done)
	if err != nil {
		a.loginErrors.Add(1)
		return
	}
	a.logins.Add(1)
	if a.closed {
		return
	}
	a.cur = s
	if !a.renewing {
		a.renewing = true
		a.wg.Add(1)
		go a.renewLoop()
	}
	a.signal()
}

// signal wakes the renewer up (it looks at a.cur again).
func (a *auth) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// loginName names the login for errors.
func (a *auth) loginName() string {
	if a.method != nil {
		return fmt.Sprintf("Vault login (%T)", a.method)
	}
	return fmt.Sprintf("Vault %s login at auth/%s", a.cfg.Method, a.cfg.Mount)
}

// login logs in once: reads the secret ID or JWT file (bounded, at every
// login, so a rotated one is used), and sends the login with a clone of
// the client that has no token.
func (a *auth) login(ctx context.Context) (*loginSession, error) {
	c, err := a.clone("")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.loginName(), err)
	}
	m := a.method
	switch {
	case m != nil:
	case a.cfg.Method == authAppRole:
		sid, err := readSecretFile(a.cfg.SecretIDFile, "secret_id_file")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.loginName(), err)
		}
		m, err = approle.NewAppRoleAuth(a.cfg.Role, &approle.SecretID{FromString: sid}, approle.WithMountPath(a.cfg.Mount))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.loginName(), err)
		}
	case a.cfg.Method == authKubernetes:
		jwt, err := readSecretFile(a.cfg.JWTFile, "jwt_file")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.loginName(), err)
		}
		m, err = kubernetes.NewKubernetesAuth(a.cfg.Role, kubernetes.WithServiceAccountToken(jwt), kubernetes.WithMountPath(a.cfg.Mount))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.loginName(), err)
		}
	default:
		return nil, errors.New("no Vault login method")
	}
	sent := time.Now()
	sec, err := m.Login(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.loginName(), err)
	}
	if sec == nil || sec.Auth == nil {
		return nil, fmt.Errorf("%s: the answer has no auth", a.loginName())
	}
	if sec.Auth.MFARequirement != nil {
		return nil, fmt.Errorf("%s: the login asks for MFA, which is not supported", a.loginName())
	}
	if sec.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%s: the answer has no client token", a.loginName())
	}
	ttl := time.Duration(sec.Auth.LeaseDuration) * time.Second
	s := &loginSession{tok: redacted{sec.Auth.ClientToken}, ttl0: ttl}
	s.schedule(sent, ttl, sec.Auth.Renewable)
	if !s.renewable {
		s.capped = true // log in anew at 2/3 of the lease
	}
	return s, nil
}

// clone returns a clone of the client (address, TLS, headers such as the
// namespace) with token tok ("" for none).
func (a *auth) clone(tok string) (*api.Client, error) {
	if a.client == nil {
		return nil, errors.New("no Vault client")
	}
	c, err := a.client.CloneWithHeaders()
	if err != nil {
		return nil, err
	}
	if tok == "" {
		c.ClearToken()
	} else {
		c.SetToken(tok)
	}
	return c, nil
}

// renewLoop keeps the current login token alive until close(): renews it
// at 2/3 of its lease, and logs in anew when a renewal is refused, comes
// back capped by the max TTL (then at 2/3 of what is left) or the token is
// not renewable. After a failure it tries again with a growing wait, as
// long as the token lives; past that, token() logs in itself.
func (a *auth) renewLoop() {
	defer a.wg.Done()
	var (
		retryFor *loginSession // the session the retry wait belongs to
		retryAt  time.Time     // when to try again
		backoff  time.Duration
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		a.mu.Lock()
		s := a.cur
		var at time.Time
		var expires time.Time
		if s != nil {
			at, expires = s.next, s.expires
		}
		a.mu.Unlock()
		if s != retryFor {
			retryFor, retryAt, backoff = nil, time.Time{}, 0
		}
		if retryFor != nil {
			at = retryAt
		}
		if s == nil || at.IsZero() {
			// No token, or one that does not expire: wait for a change.
			select {
			case <-a.wake:
				continue
			case <-a.ctx.Done():
				return
			}
		}
		timer.Reset(time.Until(at))
		select {
		case <-timer.C:
		case <-a.wake:
			timer.Stop() // Go 1.23 timers: no stale tick after Stop or Reset
			continue
		case <-a.ctx.Done():
			return
		}

		err := a.refresh(s)
		if err == nil {
			retryFor = nil
			continue
		}
		if a.ctx.Err() != nil {
			return
		}
		// Try again later, but not past the token's end.
		backoff = min(max(2*backoff, authRetryMin), authRetryMax)
		wait := backoff
		if left := time.Until(expires); left > 0 {
			wait = min(wait, max(left/3, authRetryMin/5))
		}
		retryFor, retryAt = s, time.Now().Add(wait)
	}
}

// refresh renews s, or logs in anew when s is capped or not renewable or
// its renewal is refused. It returns nil when there is nothing more to do
// for s now.
func (a *auth) refresh(s *loginSession) error {
	a.mu.Lock()
	relogin := s.capped || !s.renewable
	alive := s.expires.IsZero() || time.Now().Before(s.expires)
	a.mu.Unlock()
	if !relogin && alive {
		err := a.renew(s)
		if err == nil {
			return nil
		}
		if !renewRefused(err) {
			return err // unreachable, 5xx, timeout: try the renewal again
		}
	}
	return a.relogin(s)
}

// refusal reports whether err is Vault's refusal of a request (4xx), as
// opposed to a failure to reach it or a server error.
func renewRefused(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 && re.StatusCode != http.StatusTooManyRequests
}

// renew renews s with renew-self, asking for its login's TTL again.
func (a *auth) renew(s *loginSession) error {
	c, err := a.clone(s.tok.s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(a.ctx, authRenewTimeout)
	defer cancel()
	sent := time.Now()
	sec, err := c.Auth().Token().RenewSelfWithContext(ctx, int(s.ttl0/time.Second))
	if err != nil {
		return fmt.Errorf("renewing the Vault login token: %w", err)
	}
	if sec == nil || sec.Auth == nil {
		return errors.New("renewing the Vault login token: the answer has no auth")
	}
	lease := time.Duration(sec.Auth.LeaseDuration) * time.Second
	a.renewals.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if lease <= 0 {
		lease = 0
		s.expires = sent // Vault gave no more time: log in now
		s.next = sent
		s.capped = true
		return nil
	}
	s.schedule(sent, lease, sec.Auth.Renewable)
	// A lease shorter than the increment asked for was capped by the max
	// TTL: renewing again would not extend it, log in anew at 2/3 of it.
	s.capped = lease < s.ttl0 || !s.renewable
	return nil
}

// relogin replaces s by a new login (unless it was already replaced) and
// waits for it. The old token is not revoked: its leases end with it.
func (a *auth) relogin(s *loginSession) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errAuthClosed
	}
	if a.cur != s && a.cur != nil {
		a.mu.Unlock()
		return nil // replaced meanwhile
	}
	call := a.loginLocked()
	a.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-a.ctx.Done():
		return a.ctx.Err()
	}
}

// refused tells a that Vault answered 403 to a request made with tok: a
// login token is forgotten (the next token() logs in again) and a token
// file is read again (as it is at every call); the client's own token
// cannot be replaced, token() keeps returning it. A tok that was already
// replaced changes nothing.
func (a *auth) refused(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil && a.cur.tok.s == tok {
		a.cur = nil
		a.signal()
	}
	if a.fileLast != nil && a.fileLast.s == tok {
		a.fileLast = nil
	}
}

// close stops the renewer and any login in flight and waits for them. It
// is idempotent; token() returns an error afterwards. The login token is
// not revoked: leases read with it live on until it expires (the caller
// revokes its own leases).
func (a *auth) close() {
	a.mu.Lock()
	a.closed = true
	a.cur = nil
	a.fileLast = nil
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
}
