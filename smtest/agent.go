package smtest

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/secretsql/secretsql/internal/rotation"
)

// Defaults of the AWS Secrets Manager Agent that NewAgent keeps unless an
// AgentOption overrides them.
const (
	// DefaultAgentTTL is how long a value is cached (ttl_seconds).
	DefaultAgentTTL = 300 * time.Second
	// DefaultAgentMaxConns is how many requests are answered at once
	// (max_conn).
	DefaultAgentMaxConns = 800
	// DefaultAgentTimeout bounds one answer's calls to Secrets Manager, as
	// the agent bounds each connection to 61 seconds.
	DefaultAgentTimeout = 61 * time.Second
)

// Header names of the agent's SSRF token.
const (
	// AgentTokenHeader is the header the AWS documentation names.
	AgentTokenHeader = "X-Aws-Parameters-Secrets-Token"
	// AgentVaultTokenHeader is the other header the agent accepts.
	AgentVaultTokenHeader = "X-Vault-Token"
)

// AgentOption configures an Agent made by NewAgent or StartAgent.
type AgentOption func(*agentOptions)

type agentOptions struct {
	token    string
	ttl      time.Duration
	addr     string
	maxConns int
	region   string
	timeout  time.Duration
}

// WithAgentToken sets the SSRF token that every request but /ping must
// carry. The default is a random token, in Agent.Token.
func WithAgentToken(tok string) AgentOption { return func(o *agentOptions) { o.token = tok } }

// WithAgentTTL sets how long a value read from Secrets Manager is served
// from the cache before it is refreshed (the agent's ttl_seconds; default
// 300 s). With 0 every read refreshes, as with the agent: it asks
// DescribeSecret whether the cached value is still current, and
// GetSecretValue if not (see the package documentation).
func WithAgentTTL(d time.Duration) AgentOption {
	return func(o *agentOptions) { o.ttl = max(d, 0) }
}

// WithAgentAddr makes the agent listen on addr (for example
// "127.0.0.1:2773", the agent's port) instead of a free port on 127.0.0.1.
func WithAgentAddr(addr string) AgentOption { return func(o *agentOptions) { o.addr = addr } }

// WithAgentMaxConns sets how many requests the agent answers at once (the
// agent's max_conn, default 800); beyond it requests are answered 429.
// /ping gets 2 more.
func WithAgentMaxConns(n int) AgentOption { return func(o *agentOptions) { o.maxConns = max(n, 1) } }

// WithAgentRegion sets the region the agent reads secrets in (the agent's
// region setting); the server must serve it (see WithRegions). The default
// is the server's primary region.
func WithAgentRegion(region string) AgentOption { return func(o *agentOptions) { o.region = region } }

// WithAgentTimeout bounds the calls to Secrets Manager made for one
// request (default DefaultAgentTimeout; d <= 0 keeps it); beyond it the
// request is answered 504 TimeoutError.
func WithAgentTimeout(d time.Duration) AgentOption {
	return func(o *agentOptions) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// Agent is a running emulation of the AWS Secrets Manager Agent (and of the
// AWS Parameters and Secrets Lambda Extension, which serves the same HTTP
// API) in front of a Server. Create it with NewAgent or StartAgent and stop
// it with Close. All methods are safe for concurrent use.
type Agent struct {
	// URL is the agent's base URL, "http://127.0.0.1:PORT".
	URL string
	// Addr is the address the agent listens on, "127.0.0.1:PORT".
	Addr string
	// Token is the SSRF token requests must carry in the
	// X-Aws-Parameters-Secrets-Token (or X-Vault-Token) header.
	Token string
	// Region is the region the agent reads secrets in.
	Region string

	client   *secretsmanager.Client
	ttl      time.Duration
	timeout  time.Duration
	maxConns int64

	requests atomic.Int64
	inflight atomic.Int64

	cacheMu sync.Mutex
	cache   map[agentKey]*agentEntry

	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	lifeMu   sync.Mutex // guards ep
	ep       endpoint
	handlers sync.WaitGroup // serveHTTP calls, added while ep is not closed
}

// NewAgent starts an agent on 127.0.0.1 (or the WithAgentAddr address) that
// reads srv with the AWS SDK, signed with srv's credentials and without SDK
// retries, so that srv.Calls counts exactly the agent's calls. It panics if
// it cannot listen; use StartAgent to get an error.
func NewAgent(srv *Server, opts ...AgentOption) *Agent {
	a, err := StartAgent(srv, opts...)
	if err != nil {
		panic(err)
	}
	return a
}

// StartAgent is like NewAgent but returns an error if it cannot listen.
func StartAgent(srv *Server, opts ...AgentOption) (*Agent, error) {
	o := agentOptions{
		ttl:      DefaultAgentTTL,
		addr:     "127.0.0.1:0",
		maxConns: DefaultAgentMaxConns,
		region:   srv.Region,
		timeout:  DefaultAgentTimeout,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.token == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
		o.token = base64.RawURLEncoding.EncodeToString(b)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("smtest: agent: listen on %s: %w", o.addr, err)
	}
	a := &Agent{
		URL:      "http://" + dialAddr(ln.Addr()),
		Addr:     ln.Addr().String(),
		Token:    o.token,
		Region:   o.region,
		client:   srv.ClientFor(o.region),
		ttl:      o.ttl,
		timeout:  o.timeout,
		maxConns: int64(o.maxConns),
		cache:    map[agentKey]*agentEntry{},
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.ep = endpoint{addr: a.Addr, handler: http.HandlerFunc(a.serveHTTP)}
	a.lifeMu.Lock()
	a.ep.serve(ln)
	a.lifeMu.Unlock()
	return a, nil
}

// Close stops the agent: it closes the listener and every connection,
// cancels the calls to Secrets Manager in progress and waits for the
// handlers to return. Close is idempotent.
func (a *Agent) Close() {
	a.lifeMu.Lock()
	closing := !a.ep.closed
	a.ep.closed = true
	a.ep.stop()
	a.lifeMu.Unlock()
	if closing {
		a.cancel()
		a.handlers.Wait()
	}
}

// Down stops listening and closes every connection, as if the agent had
// stopped: connecting to URL is refused until Up. Requests in progress are
// abandoned. The cache is kept (ResetCache empties it, as a restart of the
// agent would).
func (a *Agent) Down() {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	a.ep.stop()
}

// Up ends Down by listening again on the same address. It does nothing if
// the agent is up or closed, and panics if the address cannot be bound
// again within a few seconds.
func (a *Agent) Up() {
	a.lifeMu.Lock()
	defer a.lifeMu.Unlock()
	a.ep.restart("Agent.Up")
}

// Requests returns how many HTTP requests the agent has received, whatever
// it answered (refused ones and /ping included).
func (a *Agent) Requests() int { return int(a.requests.Load()) }

// ResetCache empties the agent's cache, as a restart of the agent does.
func (a *Agent) ResetCache() {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	clear(a.cache)
}

// agentError is an answer other than 200: a status and a body.
type agentError struct {
	status int
	body   string
}

// serviceError formats an error body as the agent does: AWS JSON 1.1 with
// a "message" member, and only the type for InternalFailure or an empty
// message.
func serviceError(status int, code, msg string) *agentError {
	if msg == "" || code == codeInternalFailure {
		return &agentError{status, `{"__type":"InternalFailure"}`}
	}
	c, _ := json.Marshal(code)
	m, _ := json.Marshal(msg)
	return &agentError{status, `{"__type":` + string(c) + `, "message":` + string(m) + `}`}
}

func (a *Agent) serveHTTP(w http.ResponseWriter, r *http.Request) {
	a.lifeMu.Lock()
	if a.ep.closed {
		a.lifeMu.Unlock()
		return
	}
	a.handlers.Add(1)
	a.lifeMu.Unlock()
	defer a.handlers.Done()

	a.requests.Add(1)
	n := a.inflight.Add(1)
	defer a.inflight.Add(-1)

	// The agent answers no Content-Type.
	w.Header()["Content-Type"] = nil
	body, aerr := a.answer(r, n)
	if aerr != nil {
		w.WriteHeader(aerr.status)
		_, _ = io.WriteString(w, aerr.body)
		return
	}
	_, _ = w.Write(body)
}

// answer checks a request in the agent's order (connection limit, token,
// method, path) and answers it; n is the number of requests in progress.
func (a *Agent) answer(r *http.Request, n int64) ([]byte, *agentError) {
	ping := r.URL.Path == "/ping"
	limit := a.maxConns
	if ping {
		limit += 2
	}
	if n > limit {
		return nil, &agentError{http.StatusTooManyRequests, "Connection limit exceeded"}
	}
	if !ping {
		if _, fwd := r.Header["X-Forwarded-For"]; fwd {
			return nil, &agentError{http.StatusBadRequest, "Forwarded"}
		}
		if !a.tokenOK(r.Header) {
			return nil, &agentError{http.StatusForbidden, "Bad Token"}
		}
	}
	if r.Method != http.MethodGet {
		return nil, &agentError{http.StatusMethodNotAllowed, "Not allowed"}
	}
	var (
		q    agentKey
		herr *agentError
	)
	switch {
	case ping:
		return []byte("healthy"), nil
	case r.URL.Path == "/secretsmanager/get":
		q, herr = parseAgentQuery(r.URL.RawQuery, true)
	case strings.HasPrefix(r.URL.Path, agentPathPrefix):
		// The agent takes the ID as it appears in the path, not decoded.
		id := strings.TrimPrefix(r.URL.EscapedPath(), agentPathPrefix)
		if id == "" {
			return nil, &agentError{http.StatusBadRequest, "missing secret ID"}
		}
		q, herr = parseAgentQuery(r.URL.RawQuery, false)
		q.id = id
	default:
		return nil, &agentError{http.StatusNotFound, "Not found"}
	}
	if herr != nil {
		return nil, herr
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	defer context.AfterFunc(a.ctx, cancel)()
	v, err := a.fetch(ctx, q)
	if err != nil {
		return nil, agentErrorOf(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, serviceError(http.StatusInternalServerError, codeInternalFailure, "")
	}
	return b, nil
}

// agentPathPrefix is the agent's default path_prefix.
const agentPathPrefix = "/v1/"

func (a *Agent) tokenOK(h http.Header) bool {
	for _, name := range []string{AgentTokenHeader, AgentVaultTokenHeader} {
		if v, ok := h[http.CanonicalHeaderKey(name)]; ok && subtle.ConstantTimeCompare([]byte(v[0]), []byte(a.Token)) == 1 {
			return true
		}
	}
	return false
}

// agentKey is a request to the agent, and the key of its cache: the secret
// ID and the versionId and versionStage, if given.
type agentKey struct {
	id                string
	versionID, stage  string
	hasVersion        bool
	hasStage, refresh bool
}

func (k agentKey) cacheKey() agentKey {
	k.refresh = false
	return k
}

// parseAgentQuery parses the query of a request as the agent does: in
// order, form-decoded, failing at the first unknown parameter or bad
// refreshNow. secretID is a parameter of the query style only.
func parseAgentQuery(raw string, secretID bool) (agentKey, *agentError) {
	var q agentKey
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = formDecode(k), formDecode(v)
		switch {
		case k == "secretId" && secretID:
			q.id = v
		case k == "versionId":
			q.versionID, q.hasVersion = v, true
		case k == "versionStage":
			q.stage, q.hasStage = v, true
		case k == "refreshNow":
			switch strings.ToLower(v) {
			case "true", "1":
				q.refresh = true
			case "false", "0":
				q.refresh = false
			default:
				return q, &agentError{http.StatusBadRequest, "invalid refreshNow value"}
			}
		default:
			return q, &agentError{http.StatusBadRequest, "unknown parameter: " + k}
		}
	}
	if secretID && q.id == "" {
		return q, &agentError{http.StatusBadRequest, "missing parameter secretId"}
	}
	return q, nil
}

// formDecode decodes a form-encoded query component, leaving malformed
// escapes as they are.
func formDecode(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return strings.ReplaceAll(s, "+", " ")
}

// agentValue is the agent's answer: GetSecretValue's, with CreatedDate as
// a string of fractional epoch seconds (the agent's caching library
// serializes it so; null if Secrets Manager answered none).
type agentValue struct {
	secretValueEntry
	CreatedDate *agentTime `json:"CreatedDate"` // instead of the entry's
}

// agentTime is a time marshalled as "seconds.fraction".
type agentTime time.Time

// MarshalJSON writes the time as a JSON string of epoch seconds.
func (t agentTime) MarshalJSON() ([]byte, error) {
	secs, err := epoch(t).MarshalJSON()
	return strconv.AppendQuote(nil, string(secs)), err
}

type agentEntry struct {
	value   *agentValue
	written time.Time
}

// fetch answers q as the agent's caching library does: refreshNow reads
// Secrets Manager; otherwise a fresh cache entry is served, an expired one
// is checked with DescribeSecret (and served again if its version still
// has the label asked for), and a missing one is read.
func (a *Agent) fetch(ctx context.Context, q agentKey) (*agentValue, error) {
	if q.refresh {
		return a.refreshValue(ctx, q, nil)
	}
	a.cacheMu.Lock()
	e := a.cache[q.cacheKey()]
	a.cacheMu.Unlock()
	switch {
	case e == nil:
		return a.refreshValue(ctx, q, nil)
	case time.Since(e.written) > a.ttl:
		return a.refreshValue(ctx, q, e.value)
	}
	return e.value, nil
}

// refreshValue reads the secret and caches it. With a cached (expired)
// value, it first asks DescribeSecret whether that value is still current,
// and serves it again when a transient error (a timeout, a network error,
// an unreadable answer, a 5xx) prevents the refresh, as the agent's
// ignore_transient_errors (on by default) does.
func (a *Agent) refreshValue(ctx context.Context, q agentKey, cached *agentValue) (*agentValue, error) {
	if cached != nil {
		current, err := a.isCurrent(ctx, q, cached)
		if err != nil {
			return nil, err
		}
		if current {
			a.store(q, cached)
			return cached, nil
		}
	}
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(q.id)}
	if q.hasVersion {
		in.VersionId = aws.String(q.versionID)
	}
	if q.hasStage {
		in.VersionStage = aws.String(q.stage)
	}
	out, err := a.client.GetSecretValue(ctx, in)
	var v *agentValue
	switch {
	case err != nil && cached != nil && transient(err):
		v = cached
	case err != nil:
		return nil, err
	default:
		v = &agentValue{secretValueEntry: secretValueEntry{
			ARN: aws.ToString(out.ARN), Name: aws.ToString(out.Name), VersionID: aws.ToString(out.VersionId),
			SecretString: out.SecretString, SecretBinary: out.SecretBinary, VersionStages: out.VersionStages,
		}}
		if out.CreatedDate != nil {
			t := agentTime(*out.CreatedDate)
			v.CreatedDate = &t
		}
	}
	a.store(q, v)
	return v, nil
}

func (a *Agent) store(q agentKey, v *agentValue) {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	a.cache[q.cacheKey()] = &agentEntry{value: v, written: time.Now()}
}

// isCurrent reports whether the cached value still answers q: its
// version (or the versionId asked for) still exists and carries the label
// asked for (AWSCURRENT by default). A transient error counts as current.
func (a *Agent) isCurrent(ctx context.Context, q agentKey, cached *agentValue) (bool, error) {
	out, err := a.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(cached.ARN)})
	if err != nil {
		if transient(err) {
			return true, nil
		}
		return false, err
	}
	stages := out.VersionIdsToStages
	if len(stages) == 0 {
		return false, nil
	}
	if q.hasVersion && !q.hasStage {
		_, ok := stages[q.versionID]
		return ok, nil
	}
	vid, stage := cached.VersionID, rotation.StageCurrent
	if q.hasVersion {
		vid = q.versionID
	}
	if q.hasStage {
		stage = q.stage
	}
	return slices.Contains(stages[vid], stage), nil
}

// sdkFailure is an error of the SDK as the agent tells it apart.
type sdkFailure struct {
	kind   int // one of the failure* constants
	status int // of an API error
	code   string
	msg    string
}

const (
	failureOther = iota
	failureTimeout
	failureNetwork
	failureUnreadable // an answer that is not Secrets Manager's
	failureAPI
)

// classify tells the errors of an SDK call apart. The SDK wraps network
// errors in a ResponseError too (of status 0): they are told apart first.
func classify(err error) sdkFailure {
	var (
		send *smithyhttp.RequestSendError
		des  *smithy.DeserializationError
		ae   smithy.APIError
		re   *awshttp.ResponseError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return sdkFailure{kind: failureTimeout}
	case errors.As(err, &send):
		return sdkFailure{kind: failureNetwork}
	case errors.As(err, &des):
		return sdkFailure{kind: failureUnreadable}
	case errors.As(err, &ae) && errors.As(err, &re):
		return sdkFailure{kind: failureAPI, status: re.HTTPStatusCode(), code: ae.ErrorCode(), msg: ae.ErrorMessage()}
	}
	return sdkFailure{kind: failureOther}
}

// transient reports whether err is one of the errors the agent's caching
// library calls transient: a timeout, a network error, an unreadable
// answer or a 5xx answer.
func transient(err error) bool {
	f := classify(err)
	return f.kind == failureTimeout || f.kind == failureNetwork || f.kind == failureUnreadable ||
		f.kind == failureAPI && f.status >= 500
}

// agentErrorOf is the agent's answer for an error of Secrets Manager:
// 504 for a timeout, 502 for a network error or an unreadable answer,
// Secrets Manager's own status and error for an API error, 500 for
// anything else.
func agentErrorOf(err error) *agentError {
	switch f := classify(err); f.kind {
	case failureTimeout:
		return serviceError(http.StatusGatewayTimeout, "TimeoutError", "Timeout")
	case failureNetwork:
		return serviceError(http.StatusBadGateway, "ConnectionError", "Read Error")
	case failureUnreadable:
		return serviceError(http.StatusBadGateway, "ConnectionError", "Response Error")
	case failureAPI:
		return serviceError(f.status, f.code, f.msg)
	}
	return serviceError(http.StatusInternalServerError, codeInternalFailure, "")
}
