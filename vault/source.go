package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/secretsql/secretsql/credential"
)

// Timing of the source's requests and waits.
const (
	// defaultTimeout bounds a request made with a context without a
	// deadline, when the client sets no timeout of its own.
	defaultTimeout = 60 * time.Second
	// pollInterval is the wait between two reads of a static role after a
	// rejected login, until Vault shows the rotation.
	pollInterval = 200 * time.Millisecond
	// pollLimit bounds that polling (the rotation queue ticks every 5 s).
	pollLimit = 6 * time.Second
	// staticGrace is how long after a static role's next rotation its
	// password is still handed out: Vault rotates within a tick of the
	// rotation time, and a login that it refuses after the rotation makes
	// the cache read the new password at once.
	staticGrace = 2 * time.Second
)

// closeTimeout bounds Close's revocations, all of them together (a
// variable for tests).
var closeTimeout = 10 * time.Second

// testRenewed, when set by a test, hears of every renewal.
var testRenewed func(leaseID string, ttl time.Duration)

// Source reads database credentials from a Vault path: dynamic
// credentials of the database secrets engine (a lease, renewed while Vault
// allows, revoked by Close), a static role's rotating password, or a KV
// secret. It implements [credential.Source], [credential.Describer] and
// io.Closer; it is safe for concurrent use. Printing it never shows a
// token.
type Source struct {
	path           string
	addr           string
	ns             string
	client         *api.Client // the configured client; requests go through a clone per token
	guardTransport *guardTransport
	own            bool // the transport is the Source's own (not a WithClient caller's)
	auth           *auth

	sem chan struct{} // one Fetch at a time

	mu        sync.Mutex
	closed    bool
	cur       *answer
	cred      credential.Credential
	needNew   bool                 // dynamic: the lease cannot be renewed further
	leaseList map[string]time.Time // every lease obtained, with its expiry
	tc        *api.Client          // the client of token tcTok
	tcTok     string

	closeOnce sync.Once
	closeErr  error
}

// Option configures a [Source] made by [New].
type Option func(*sourceOptions)

type sourceOptions struct {
	client    *api.Client
	method    api.AuthMethod
	tokenFile string
	namespace string
	authCfg   *authConfig
}

// WithClient makes the source use a clone of c: its address, TLS
// settings, headers, namespace and token. c itself is never changed.
// Without it the client is configured from the environment, as the
// official client is (VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, …).
func WithClient(c *api.Client) Option { return func(o *sourceOptions) { o.client = c } }

// WithAuth logs in with m (an AppRole, Kubernetes, … login of the
// official client's auth packages) instead of using a token.
func WithAuth(m api.AuthMethod) Option { return func(o *sourceOptions) { o.method = m } }

// WithTokenFile reads the token from the file at path (Vault Agent's
// sink), again whenever it changes and when Vault refuses the token.
func WithTokenFile(path string) Option { return func(o *sourceOptions) { o.tokenFile = path } }

// WithNamespace sets the Vault Enterprise namespace (default
// VAULT_NAMESPACE, or the WithClient client's).
func WithNamespace(ns string) Option { return func(o *sourceOptions) { o.namespace = ns } }

// withAuthConfig is the login a DSN's keys configure.
func withAuthConfig(cfg authConfig) Option { return func(o *sourceOptions) { o.authCfg = &cfg } }

// New returns a source that reads path, a Vault API path after /v1/ such
// as "database/creds/app", "database/static-creds/app" or
// "secret/data/prod/app". It does no network I/O: errors of the server or
// the token come from Fetch.
func New(path string, opts ...Option) (*Source, error) {
	if err := validatePath(path); err != nil {
		return nil, err
	}
	var o sourceOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	c, g, own, err := newSourceClient(o.client, o.namespace)
	if err != nil {
		return nil, err
	}
	if o.method != nil && o.tokenFile != "" {
		return nil, errors.New("vault: WithAuth and WithTokenFile do not go together")
	}
	cfg := authConfig{Method: "token"}
	if o.authCfg != nil {
		cfg = *o.authCfg
	}
	if o.tokenFile != "" {
		if cfg.Method != "" && cfg.Method != "token" {
			return nil, errors.New("vault: WithTokenFile and auth=" + cfg.Method + " do not go together")
		}
		cfg.Method, cfg.TokenFile = "token", o.tokenFile
	}
	s := &Source{
		path:           path,
		addr:           c.Address(),
		ns:             c.Namespace(),
		client:         c,
		guardTransport: g,
		own:            own,
		sem:            make(chan struct{}, 1),
		leaseList:      map[string]time.Time{},
	}
	s.auth = newAuth(cfg, o.method, c)
	return s, nil
}

// sourceIdentity names what a Source reads and who reads it.
type sourceIdentity struct {
	addr, namespace, path string
	auth                  any
}

// Describe tells the cache how to use the source: sources of the same
// server, namespace, path and login share one cache entry (so one lease),
// and a source is released (its leases revoked) when its last reader
// closes.
func (s *Source) Describe() credential.Description {
	id := sourceIdentity{addr: s.addr, namespace: s.ns, path: s.path, auth: s.auth.identity()}
	return credential.Description{
		Name:        "vault",
		Identity:    id,
		MinInterval: 0,
		ReleaseIdle: true,
	}
}

// String describes the source: its server, namespace and path, never a
// token.
func (s *Source) String() string {
	if s == nil {
		return "vault.Source(nil)"
	}
	ns := ""
	if s.ns != "" {
		ns = " Namespace:" + s.ns
	}
	return "vault.Source{Addr:" + s.addr + ns + " Path:" + s.path + "}"
}

// Format prints [Source.String] whatever the verb.
func (s *Source) Format(f fmt.State, verb rune) {
	str := s.String()
	if verb == 'q' {
		str = strconv.Quote(str)
	}
	_, _ = io.WriteString(f, str)
}

// Fetch reads the path's credentials, as [credential.Source] asks. A plain
// read renews the lease of dynamic credentials (reading new ones once it
// cannot be renewed to its full duration) and re-reads a static role or a
// KV secret. After a rejected login it reads new dynamic credentials,
// waits (within ctx) for a static role's rotation to show, or re-reads a
// KV secret; it hands out the rejected version again when nothing is newer.
func (s *Source) Fetch(ctx context.Context, r credential.Request) (credential.Credential, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return credential.Credential{}, s.fail("read", s.path, ctx.Err())
	}
	defer func() { <-s.sem }()
	s.mu.Lock()
	closed, cur, cred, needNew := s.closed, s.cur, s.cred, s.needNew
	s.mu.Unlock()
	if closed {
		return credential.Credential{}, s.closedErr()
	}
	if cur == nil {
		return s.readNew(ctx)
	}
	if r.Rejected != "" {
		if r.Rejected != cred.Version {
			return cred, nil // already newer than the rejected one
		}
		if cur.answerKind == kindStatic {
			return s.pollRotation(ctx, cred)
		}
		return s.readNew(ctx)
	}
	if cur.answerKind == kindDynamic {
		if needNew || !time.Now().Before(cred.Expiry) {
			return s.readNew(ctx)
		}
		return s.renew(ctx, cur, cred)
	}
	return s.readNew(ctx)
}

// readNew reads the path and makes its answer the current one.
func (s *Source) readNew(ctx context.Context) (credential.Credential, error) {
	start := time.Now()
	a, err := s.read(ctx)
	if err != nil {
		return credential.Credential{}, err
	}
	c := credential.Credential{
		Username: a.username,
		Host:     a.host,
		Port:     a.port,
		Database: a.dbname,
		Engine:   a.engine,
		Version:  a.version(),
	}.WithPassword(a.password)
	switch a.answerKind {
	case kindDynamic:
		c.Expiry, c.Retire = start.Add(a.leaseDuration), true
	case kindStatic:
		c.Expiry = time.Now().Add(a.ttl + staticGrace)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if a.answerKind == kindDynamic {
			s.revoke([]string{a.leaseID})
		}
		return credential.Credential{}, s.closedErr()
	}
	s.cur, s.cred = a, c
	s.needNew = a.answerKind == kindDynamic && !a.renewable
	if a.answerKind == kindDynamic {
		s.leaseList[a.leaseID] = c.Expiry
		now := time.Now()
		for id, exp := range s.leaseList {
			if exp.Before(now) {
				delete(s.leaseList, id) // Vault revoked it when it expired
			}
		}
	}
	s.mu.Unlock()
	return c, nil
}

// renew extends the current lease by its original duration. When Vault
// caps it (the role's max_ttl) the next plain read reads new credentials;
// when the lease is gone (revoked, expired) it reads new ones now.
func (s *Source) renew(ctx context.Context, a *answer, cred credential.Credential) (credential.Credential, error) {
	start := time.Now()
	inc := int64(a.leaseDuration / time.Second)
	sec, err := s.do(ctx, "renew", "sys/leases/renew", func(ctx context.Context, c *api.Client) (*api.Secret, error) {
		return c.Logical().WriteWithContext(ctx, "sys/leases/renew", map[string]any{"lease_id": a.leaseID, "increment": inc})
	})
	if err != nil {
		if errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return credential.Credential{}, err
		}
		// The lease is gone, or the token may not renew it: new credentials.
		return s.readNew(ctx)
	}
	if sec == nil || sec.LeaseDuration <= 0 {
		return s.readNew(ctx)
	}
	cred.Expiry = start.Add(time.Duration(sec.LeaseDuration) * time.Second)
	if testRenewed != nil {
		testRenewed(a.leaseID, time.Duration(sec.LeaseDuration)*time.Second)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return credential.Credential{}, s.closedErr()
	}
	if s.cur == a {
		s.cred = cred
		s.leaseList[a.leaseID] = cred.Expiry
		if int64(sec.LeaseDuration) < inc || !sec.Renewable {
			s.needNew = true // capped by max_ttl: read new credentials next time, before this lease ends
		}
	}
	return cred, nil
}

// pollRotation re-reads a static role whose password the database refused
// until Vault shows a new rotation, ctx ends or pollLimit passes, and
// returns the newest credential it saw.
func (s *Source) pollRotation(ctx context.Context, rejected credential.Credential) (credential.Credential, error) {
	deadline := time.Now().Add(pollLimit)
	for {
		c, err := s.readNew(ctx)
		if err != nil {
			return c, err
		}
		if c.Version != rejected.Version || !time.Now().Add(pollInterval).Before(deadline) {
			return c, nil
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return c, nil // nothing newer: the cache backs off and may ask again
		case <-t.C:
		}
	}
}

// read reads the path and tells what it holds.
func (s *Source) read(ctx context.Context) (*answer, error) {
	sec, err := s.do(ctx, "read", s.path, func(ctx context.Context, c *api.Client) (*api.Secret, error) {
		resp, err := c.Logical().ReadRawWithContext(ctx, s.path)
		if resp != nil && resp.Body != nil {
			defer resp.Body.Close()
		}
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err // cut off, or too large
		}
		sec, err := api.ParseSecret(bytes.NewReader(body))
		if err != nil {
			return nil, badAnswerReason("an answer that is not Vault's JSON")
		}
		return sec, nil
	})
	if err != nil {
		return nil, err
	}
	if sec == nil {
		return nil, &Error{Op: "read", Path: s.path, Addr: s.addr, Kind: ErrNotFound, Err: errors.New("an empty answer")}
	}
	a, err := parseAnswer(sec)
	if err != nil {
		return nil, &Error{Op: "read", Path: s.path, Addr: s.addr, Kind: ErrBadAnswer, Err: err}
	}
	return a, nil
}

// do makes a request with the current token, once more with a new one if
// Vault refuses it (403), with a deadline when ctx has none.
func (s *Source) do(ctx context.Context, op, path string, req func(context.Context, *api.Client) (*api.Secret, error)) (*api.Secret, error) {
	if _, ok := ctx.Deadline(); !ok {
		d := s.client.ClientTimeout()
		if d <= 0 {
			d = defaultTimeout
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		tok, err := s.auth.token(ctx)
		if err != nil {
			return nil, s.loginErr(op, path, err)
		}
		c, err := s.clientFor(tok)
		if err != nil {
			return nil, &Error{Op: op, Path: path, Addr: s.addr, Err: err}
		}
		sec, err := req(ctx, c)
		if err == nil {
			return sec, nil
		}
		var bad badAnswerReason
		if errors.As(err, &bad) {
			return nil, &Error{Op: op, Path: path, Addr: s.addr, Kind: ErrBadAnswer, Err: err}
		}
		e := classifyErr(op, path, s.addr, err, tok)
		if e.Status == 403 && attempt == 0 {
			s.auth.refused(tok)
			continue
		}
		return nil, e
	}
}

// loginErr is the error of getting a token for op on path: the login's
// own *Error, or one naming the path.
func (s *Source) loginErr(op, path string, err error) error {
	var ve *Error
	if errors.As(err, &ve) {
		return err
	}
	e := &Error{Op: op + " (no token)", Path: path, Addr: s.addr, Err: err}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.Kind = ErrUnavailable
	}
	return e
}

// fail is the error of op on path with cause err.
func (s *Source) fail(op, path string, err error) error { return classifyErr(op, path, s.addr, err) }

func (s *Source) closedErr() error {
	return &Error{Op: "read", Path: s.path, Addr: s.addr, Kind: ErrClosed}
}

// clientFor returns a client that sends tok.
func (s *Source) clientFor(tok string) (*api.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tc != nil && s.tcTok == tok {
		return s.tc, nil
	}
	c, err := s.client.CloneWithHeaders() // the same transport, headers and namespace
	if err != nil {
		return nil, err
	}
	c.SetToken(tok)
	s.tc, s.tcTok = c, tok
	return c, nil
}

// Close revokes every lease the source obtained that has not expired (so
// their database users are dropped), within about 10 seconds in all even
// if Vault does not answer, stops the login's renewal and closes idle
// connections. It is idempotent; Fetch after Close returns ErrClosed.
func (s *Source) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		now := time.Now()
		var ids []string
		for id, exp := range s.leaseList {
			if exp.After(now) {
				ids = append(ids, id)
			}
		}
		s.leaseList = map[string]time.Time{}
		s.mu.Unlock()
		s.closeErr = s.revoke(ids)
		s.auth.close()
		if s.own && s.guardTransport != nil {
			s.guardTransport.closeIdle()
		}
	})
	return s.closeErr
}

// revoke revokes leases, within closeTimeout in all.
func (s *Source) revoke(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var errs []error
	for _, id := range ids {
		_, err := s.do(ctx, "revoke", "sys/leases/revoke", func(ctx context.Context, c *api.Client) (*api.Secret, error) {
			return c.Logical().WriteWithContext(ctx, "sys/leases/revoke", map[string]any{"lease_id": id})
		})
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrUnavailable) {
				break // Vault is down: the leases end at their expiry
			}
		}
	}
	return errors.Join(errs...)
}
