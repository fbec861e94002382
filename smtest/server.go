package smtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Defaults used when no Option overrides them.
const (
	DefaultRegion          = "us-east-1"
	DefaultAccountID       = "123456789012"
	DefaultAccessKeyID     = "AKIDSMTEST"
	DefaultSecretAccessKey = "smtest-secret"
)

// maxBodyBytes bounds a request body (see bodyFirst). Secret values are at
// most 64 KiB, and a BatchGetSecretValue request names at most 20 secrets.
const maxBodyBytes = 1 << 20

// Option configures a Server created by NewServer or Start.
type Option func(*options)

type options struct {
	addr            string
	region          string
	regions         []string
	accountID       string
	accessKeyID     string
	secretAccessKey string
	denied          []string
	logger          *slog.Logger
	hostCheck       bool
	allowedHosts    []string
	rotationWindow  time.Duration
	rotateEvery     time.Duration
	rotationNets    []netip.Prefix
	limits          connLimits // zero: defaultLimits
}

// WithAddr makes the server listen on addr (for example "127.0.0.1:4566")
// instead of a random port on 127.0.0.1.
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithRegion sets the region the server claims to be in, its primary
// region. Requests must be signed for it (or for one of WithRegions), and
// it appears in ARNs. The default is "us-east-1".
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithAccountID sets the account ID used in ARNs. The default is
// "123456789012".
func WithAccountID(id string) Option { return func(o *options) { o.accountID = id } }

// WithCredentials sets the only access key the server accepts. The defaults
// are "AKIDSMTEST" and "smtest-secret".
func WithCredentials(accessKeyID, secretAccessKey string) Option {
	return func(o *options) {
		o.accessKeyID = accessKeyID
		o.secretAccessKey = secretAccessKey
	}
}

// WithDenied denies access to the given secrets from the start, as Deny does.
func WithDenied(secretIDs ...string) Option {
	return func(o *options) { o.denied = append(o.denied, secretIDs...) }
}

// WithLogger makes the server log every request (at Info level, message
// "smtest: request"), its outages and the steps of its rotations to l; a
// failed rotation is logged at Error level with the failed step and why. By
// default the server logs nothing.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithHostCheck makes the server refuse (HTTP 421, HostNotAllowedException)
// every request whose Host header names neither a loopback host
// ("localhost", "*.localhost", 127.0.0.0/8, ::1), nor the host of the
// listen address (every address of the machine's interfaces when it listens
// on all of them), nor one of hosts. This defeats DNS rebinding: a web page
// whose own name resolves to the loopback address cannot reach the server.
// NewServer does not check by default.
func WithHostCheck(hosts ...string) Option {
	return func(o *options) {
		o.hostCheck = true
		o.allowedHosts = append(o.allowedHosts, hosts...)
	}
}

// WithRotationWindow makes every rotation wait d between its setSecret and
// finishSecret steps: the database already has the new password while
// AWSCURRENT still returns the old one, as during a slow rotation function.
func WithRotationWindow(d time.Duration) Option { return func(o *options) { o.rotationWindow = d } }

// WithRotateEvery makes every secret whose rotation is enabled rotate d
// after its previous rotation (or after RotateSecret with RotateImmediately
// false), instead of on the schedule of its rotation rules: a lab setting
// for soak runs. NextRotationDate reflects it.
func WithRotateEvery(d time.Duration) Option { return func(o *options) { o.rotateEvery = d } }

// WithRotationNetworks lets rotations connect to databases in the given
// networks too. By default a rotation connects only to loopback addresses
// (127.0.0.0/8, ::1), whatever host a secret names: whoever may call
// RotateSecret could otherwise make the server connect to any address it
// reaches. The check applies to the address actually dialed, after the
// host name is resolved; a refused one fails the rotation's step with a
// *sqldb.AddrError (internal/rotation/sqldb) before any packet is sent.
// netip.MustParsePrefix("0.0.0.0/0") and "::/0" allow every address.
func WithRotationNetworks(networks ...netip.Prefix) Option {
	return func(o *options) {
		for _, n := range networks {
			o.rotationNets = append(o.rotationNets, n.Masked())
		}
	}
}

// Call is one request received by the server, as recorded in Server.Log.
type Call struct {
	// Time is when the request arrived.
	Time time.Time
	// Operation is the operation named by the X-Amz-Target header, without
	// the "secretsmanager." prefix (for example "GetSecretValue").
	Operation string
	// Region is the region of the request's credential scope (the region
	// it was signed for, whether or not the signature is valid), "" if it
	// had no readable Authorization header.
	Region string
	// SecretID is the SecretId of the request as sent (the Name for
	// CreateSecret), "" if the operation has none.
	SecretID string
	// SecretName is the name of the secret SecretID referred to when the
	// request arrived, "" if it did not refer to an existing secret. For
	// CreateSecret it is the requested name.
	SecretName string
	// VersionStage is the VersionStage of the request, if any. For
	// PutSecretValue it is the requested VersionStages joined by ",".
	VersionStage string
	// VersionID is the VersionId of the request (ClientRequestToken for
	// CreateSecret, PutSecretValue, UpdateSecret and RotateSecret,
	// MoveToVersionId for UpdateSecretVersionStage), if any.
	VersionID string
	// SecretIDs is the SecretIdList of a BatchGetSecretValue request.
	SecretIDs []string
	// ErrorCode is the AWS error code answered, "" on success. It is
	// "RequestCanceled" when the client went away before the answer (for
	// example while waiting out a SetLatency delay), and "RegionOutage"
	// when RegionOutage dropped the request.
	ErrorCode string
}

type fault struct {
	region string // "": any region
	op     string
	n      int
	code   string
}

// Server is a running Secrets Manager emulator. Create it with NewServer or
// Start and stop it with Close. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the server, "http://127.0.0.1:PORT" (the
	// WithAddr address; loopback if that address binds all interfaces).
	URL string
	// Region is the region the server emulates, its primary region (see
	// WithRegions for others).
	Region string
	// AccountID is the account ID used in ARNs.
	AccountID string

	addr            string
	accessKeyID     string
	secretAccessKey string
	logger          *slog.Logger
	signer          *v4.Signer
	httpClient      *http.Client

	mu      sync.Mutex // guards denied and the regions' stores
	denied  map[string]struct{}
	regions *regionSet

	ctlMu   sync.Mutex // guards faults and latency
	faults  []*fault
	latency map[string]time.Duration

	logMu sync.Mutex // guards calls and log
	calls map[string]int
	log   []*Call

	allowedHosts   map[string]bool // nil: no Host check
	rotationNets   []netip.Prefix  // besides loopback
	rotationWindow time.Duration
	rotateEvery    time.Duration
	rotCtx         context.Context // ends when the server closes
	rotCancel      context.CancelFunc
	rotWG          sync.WaitGroup // rotations and the scheduler
	// rotClosed and schedulerStarted are guarded by mu.
	rotClosed        bool
	schedulerStarted bool

	lifeMu   sync.Mutex // guards the fields below
	ep       endpoint
	down     chan struct{} // closed when the current serving period ends
	inflight int
	idle     *sync.Cond // signalled when inflight drops to 0
}

// NewServer starts a server on 127.0.0.1 (or the WithAddr address) and
// returns it. It panics if it cannot listen; use Start to get an error.
func NewServer(opts ...Option) *Server {
	s, err := Start(opts...)
	if err != nil {
		panic(err)
	}
	return s
}

// Start is like NewServer but returns an error if it cannot listen.
func Start(opts ...Option) (*Server, error) {
	o := options{
		addr:            "127.0.0.1:0",
		region:          DefaultRegion,
		accountID:       DefaultAccountID,
		accessKeyID:     DefaultAccessKeyID,
		secretAccessKey: DefaultSecretAccessKey,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	regions, err := newRegionSet(o.region, o.accountID, o.regions)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("smtest: listen on %s: %w", o.addr, err)
	}
	s := &Server{
		Region:          o.region,
		AccountID:       o.accountID,
		addr:            ln.Addr().String(),
		URL:             "http://" + dialAddr(ln.Addr()),
		accessKeyID:     o.accessKeyID,
		secretAccessKey: o.secretAccessKey,
		logger:          o.logger,
		signer:          v4.NewSigner(),
		regions:         regions,
		denied:          map[string]struct{}{},
		latency:         map[string]time.Duration{},
		calls:           map[string]int{},
		rotationWindow:  o.rotationWindow,
		rotateEvery:     o.rotateEvery,
		rotationNets:    slices.Clone(o.rotationNets),
	}
	s.rotCtx, s.rotCancel = context.WithCancel(context.Background())
	if o.hostCheck {
		s.allowedHosts = allowedHosts(ln.Addr(), o.allowedHosts)
	}
	s.idle = sync.NewCond(&s.lifeMu)
	s.ep = endpoint{addr: s.addr, handler: s, limits: o.limits}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // never send emulator traffic through HTTP(S)_PROXY
	transport.MaxIdleConnsPerHost = 128
	// Close idle connections before the server does (see idleTimeout): a
	// request sent on a connection the server is closing would fail, and
	// these clients never retry.
	transport.IdleConnTimeout = cmp.Or(o.limits, defaultLimits).idle / 2
	s.httpClient = &http.Client{Transport: plainBodies{transport}}
	for _, id := range o.denied {
		s.denied[id] = struct{}{}
	}
	s.lifeMu.Lock()
	s.serveLocked(ln)
	s.lifeMu.Unlock()
	return s, nil
}

// dialAddr is the address clients connect to for a listener address: the
// address itself, or the loopback address if the listener is bound to all
// interfaces ("0.0.0.0:4566", ":4566").
func dialAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
	return a.String()
}

func (s *Server) serveLocked(ln net.Listener) {
	s.ep.serve(ln)
	s.down = make(chan struct{})
}

// Close stops the server: it cancels the rotations in progress and waits
// for them, closes the listener and every connection and waits for running
// handlers to return. Close is idempotent. A closed server cannot be
// restored.
func (s *Server) Close() {
	s.mu.Lock()
	s.rotClosed = true
	s.mu.Unlock()
	s.rotCancel()
	s.rotWG.Wait()

	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.ep.closed {
		return
	}
	s.ep.closed = true
	s.stopLocked()
	for s.inflight > 0 {
		s.idle.Wait()
	}
	s.httpClient.CloseIdleConnections()
}

func (s *Server) stopLocked() {
	if s.ep.stop() {
		close(s.down)
	}
}

// Outage simulates the service being unreachable: it closes the listener and
// all open and idle connections, so that connecting to URL is refused until
// Restore is called. Requests in progress are abandoned. Outage on a server
// that is already down or closed does nothing.
func (s *Server) Outage() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if !s.ep.listening() {
		return
	}
	s.stopLocked()
	s.httpClient.CloseIdleConnections()
	s.logger.Info("smtest: outage", "addr", s.addr)
}

// Restore ends an Outage by listening again on the same address, so URL and
// every client made before keep working. It does nothing if the server is
// not in an outage or is closed. It panics if the address cannot be bound
// again within a few seconds.
func (s *Server) Restore() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.ep.restart("Restore") {
		s.down = make(chan struct{})
		s.logger.Info("smtest: restored", "addr", s.addr)
	}
}

// Client returns a Secrets Manager client for the server: its region, its
// static credentials, BaseEndpoint set to URL, and RetryMaxAttempts 1 so
// that the SDK never retries (every failure, including injected throttling
// and 5xx errors, reaches the caller at once and Calls counts exactly the
// calls made).
func (s *Server) Client() *secretsmanager.Client { return s.ClientFor(s.Region) }

// Config returns an aws.Config for the server: its region, its static
// credentials, BaseEndpoint set to URL, and RetryMaxAttempts 1 (no SDK
// retries). Pass it to secretsmanager.NewFromConfig, or to code under test
// that builds its own client. BaseEndpoint applies to every service client
// built from the Config, so use it only for Secrets Manager clients. Keep
// its HTTPClient: it works around an SDK race that a loopback server this
// fast exposes (see plainBodies in the source).
func (s *Server) Config() aws.Config { return s.ConfigFor(s.Region) }

func (s *Server) credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.accessKeyID, s.secretAccessKey, "")
}

// Calls returns how many requests for operation op (for example
// "GetSecretValue") reached the server since it started or since the last
// ResetCalls, including requests that failed, were refused for their
// signature, or were failed by FailNext. Calls("") counts every request.
func (s *Server) Calls(op string) int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if op == "" {
		return len(s.log)
	}
	return s.calls[op]
}

// SecretCalls is like Calls but counts only requests for one secret.
// secretID may be the secret's name, full ARN or partial ARN; requests are
// matched whichever of the three they used (in any region: a secret and
// its replicas share their name). A BatchGetSecretValue request
// counts once for each secret of its SecretIdList.
func (s *Server) SecretCalls(op, secretID string) int {
	type ids struct {
		id    string
		batch []string
	}
	var matching []ids
	s.logMu.Lock()
	for _, c := range s.log {
		if c.Operation == op {
			matching = append(matching, ids{c.SecretID, c.SecretIDs})
		}
	}
	s.logMu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.nameOfLocked(secretID)
	same := func(id string) bool {
		if id == secretID {
			return true
		}
		return name != "" && s.nameOfLocked(id) == name
	}
	n := 0
	for _, m := range matching {
		if m.id != "" && same(m.id) {
			n++
		}
		for _, id := range m.batch {
			if same(id) {
				n++
				break
			}
		}
	}
	return n
}

// ResetCalls zeroes the counters behind Calls and SecretCalls and empties
// the log.
func (s *Server) ResetCalls() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.calls = map[string]int{}
	s.log = nil
}

// Log returns a copy of the requests received, in arrival order.
func (s *Server) Log() []Call {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := make([]Call, len(s.log))
	for i, c := range s.log {
		out[i] = *c
		out[i].SecretIDs = slices.Clone(c.SecretIDs)
	}
	return out
}

// FailNext makes the next n requests for operation op (any operation if op
// is "") fail with the AWS error code code, for example
// "ThrottlingException", "InternalServiceError" or "AccessDeniedException".
// Server faults (InternalServiceError, InternalFailure, ServiceUnavailable)
// are answered with HTTP 500, every other code with 400. The requests are
// still authenticated and counted. Successive FailNext calls queue up. n <= 0
// cancels the pending failures for op.
func (s *Server) FailNext(op string, n int, code string) { s.failNext("", op, n, code) }

// failNext queues n failures of op in region ("": any region), or with
// n <= 0 cancels those pending for op in region ("": every region).
func (s *Server) failNext(region, op string, n int, code string) {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	if n <= 0 {
		s.faults = slices.DeleteFunc(s.faults, func(f *fault) bool { return f.op == op && (region == "" || f.region == region) })
		return
	}
	s.faults = append(s.faults, &fault{region: region, op: op, n: n, code: code})
}

func (s *Server) takeFault(region, op string) string {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	for i, f := range s.faults {
		if (f.op == "" || f.op == op) && (f.region == "" || f.region == region) {
			f.n--
			if f.n <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f.code
		}
	}
	return ""
}

// SetLatency delays every answer to operation op (every operation if op is
// "") by d. A latency set for an operation takes precedence over the one set
// for "". d <= 0 removes the latency. A delayed handler stops waiting as soon
// as the client goes away (its request context ends) or the server stops.
func (s *Server) SetLatency(op string, d time.Duration) {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	if d <= 0 {
		delete(s.latency, op)
		return
	}
	s.latency[op] = d
}

func (s *Server) latencyFor(op string) time.Duration {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	if d, ok := s.latency[op]; ok {
		return d
	}
	return s.latency[""]
}

// Deny makes every operation on the given secrets fail with
// AccessDeniedException, as if an IAM policy denied it. A secret may be
// given by name, full ARN or partial ARN, and need not exist yet.
// BatchGetSecretValue reports denied secrets in its Errors list.
func (s *Server) Deny(secretIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range secretIDs {
		s.denied[id] = struct{}{}
	}
}

// Allow lifts Deny for the given secrets (given exactly as they were given
// to Deny or WithDenied). Allow with no arguments lifts every denial.
func (s *Server) Allow(secretIDs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(secretIDs) == 0 {
		clear(s.denied)
		return
	}
	for _, id := range secretIDs {
		delete(s.denied, id)
	}
}

// isDeniedLocked reports whether a request naming id (which resolved to sec,
// possibly nil) is denied.
func (s *Server) isDeniedLocked(id string, sec *secret) bool {
	if len(s.denied) == 0 {
		return false
	}
	candidates := []string{id}
	if name := s.nameOfLocked(id); name != "" {
		candidates = append(candidates, name)
	}
	if sec != nil {
		candidates = append(candidates, sec.name, sec.arn, s.regions.primary.arnPrefix+sec.name)
	}
	for _, c := range candidates {
		if _, ok := s.denied[c]; ok {
			return true
		}
		// A denied ID given as a name or ARN matches the other forms too.
		for d := range s.denied {
			if s.nameOfLocked(d) == c {
				return true
			}
		}
	}
	return false
}

// enter registers a running handler; it returns the channel closed when the
// current serving period ends.
func (s *Server) enter() <-chan struct{} {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.inflight++
	if s.down == nil || !s.ep.listening() {
		c := make(chan struct{})
		close(c)
		return c
	}
	return s.down
}

func (s *Server) leave() {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.inflight--
	if s.inflight == 0 {
		s.idle.Broadcast()
	}
}

// requestFields are the members of any request body that the call log
// records. Decoding them never fails the request.
type requestFields struct {
	SecretID           *string  `json:"SecretId"`
	Name               *string  `json:"Name"`
	VersionID          *string  `json:"VersionId"`
	VersionStage       *string  `json:"VersionStage"`
	VersionStages      []string `json:"VersionStages"`
	ClientRequestToken *string  `json:"ClientRequestToken"`
	MoveToVersionID    *string  `json:"MoveToVersionId"`
	SecretIDList       []string `json:"SecretIdList"`
}

func (s *Server) record(op, region string, body []byte, now time.Time) *Call {
	var f requestFields
	_ = json.Unmarshal(body, &f)
	c := &Call{Time: now, Operation: op, Region: region, SecretIDs: f.SecretIDList}
	switch op {
	case "CreateSecret":
		c.SecretID = aws.ToString(f.Name)
		c.SecretName = c.SecretID
		c.VersionID = aws.ToString(f.ClientRequestToken)
	case "PutSecretValue", "UpdateSecret", "RotateSecret":
		c.SecretID = aws.ToString(f.SecretID)
		c.VersionID = aws.ToString(f.ClientRequestToken)
		c.VersionStage = strings.Join(f.VersionStages, ",")
	case "UpdateSecretVersionStage":
		c.SecretID = aws.ToString(f.SecretID)
		c.VersionID = aws.ToString(f.MoveToVersionID)
		c.VersionStage = aws.ToString(f.VersionStage)
	default:
		c.SecretID = aws.ToString(f.SecretID)
		c.VersionID = aws.ToString(f.VersionID)
		c.VersionStage = aws.ToString(f.VersionStage)
	}
	if c.SecretID != "" && op != "CreateSecret" {
		s.mu.Lock()
		rg := s.regions.orPrimary(region)
		if sec := rg.store.lookup(c.SecretID, rg.arnPrefix, now); sec != nil {
			c.SecretName = sec.name
		}
		s.mu.Unlock()
	}

	s.logMu.Lock()
	s.calls[op]++
	s.log = append(s.log, c)
	s.logMu.Unlock()
	return c
}

func (s *Server) finish(c *Call, code string) {
	s.logMu.Lock()
	c.ErrorCode = code
	s.logMu.Unlock()
}

// ServeHTTP implements the AWS JSON 1.1 protocol of Secrets Manager.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	down := s.enter()
	defer s.leave()
	now := time.Now()

	body, err := io.ReadAll(r.Body) // in memory already: see bodyFirst
	if err != nil {
		return
	}
	op, isSM := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if !isSM {
		op = r.Header.Get("X-Amz-Target")
	}
	call := s.record(op, claimedRegion(r), body, now)
	if s.dropInOutage(w, call) {
		return
	}

	out, aerr := s.handle(r, op, isSM, body, down, now)
	if aerr != nil && aerr.Code == codeRequestCanceled {
		s.finish(call, codeRequestCanceled)
		s.logRequest(r.Context(), call, 0, now)
		return
	}

	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", newUUID())
	status := http.StatusOK
	var payload []byte
	if aerr == nil {
		payload, err = json.Marshal(out)
		if err != nil {
			aerr = newError(codeInternalFailure, "encoding the response: %v", err)
		}
	}
	if aerr != nil {
		status = aerr.status()
		w.Header().Set("X-Amzn-ErrorType", aerr.Code)
		payload, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"Message"`
		}{aerr.Code, aerr.Message})
		s.finish(call, aerr.Code)
	}
	w.WriteHeader(status)
	_, _ = w.Write(payload)
	s.logRequest(r.Context(), call, status, now)
}

func (s *Server) logRequest(ctx context.Context, c *Call, status int, start time.Time) {
	s.logMu.Lock()
	code := c.ErrorCode
	s.logMu.Unlock()
	s.logger.LogAttrs(ctx, slog.LevelInfo, "smtest: request",
		slog.String("operation", c.Operation),
		slog.String("secret_id", c.SecretID),
		slog.Int("status", status),
		slog.String("error_code", code),
		slog.Duration("duration", time.Since(start)),
	)
}

var errCanceled = &apiError{Code: codeRequestCanceled, Message: "the client went away"}

// handle authenticates, delays, injects faults and finally runs op.
func (s *Server) handle(r *http.Request, op string, isSM bool, body []byte, down <-chan struct{}, now time.Time) (any, *apiError) {
	if len(body) > maxBodyBytes {
		return nil, newError(codeSerialization, "The request body exceeds %d bytes.", maxBodyBytes)
	}
	if !s.hostAllowed(r.Host) {
		return nil, newError(codeHostNotAllowed,
			"smtest refuses requests for the host %q: it answers only requests addressed to %s or a loopback name (protection against DNS rebinding); allow another name with WithHostCheck (secretsql emulator --allow-host).",
			r.Host, s.addr)
	}
	rg, aerr := s.verifySigV4(r.Context(), r, body, now)
	if aerr != nil {
		return nil, aerr
	}
	if r.Method != http.MethodPost {
		return nil, newError(codeUnknownOperation, "Secrets Manager operations are POST requests, not %s.", r.Method)
	}
	run, ok := operations[op]
	if !isSM || !ok {
		if isSM && notEmulated[op] {
			return nil, newError(codeUnknownOperation, "smtest does not emulate the operation %s.", op)
		}
		return nil, newError(codeUnknownOperation, "Unknown operation %q.", r.Header.Get("X-Amz-Target"))
	}
	if d := s.latencyFor(op); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, errCanceled
		case <-down:
			t.Stop()
			return nil, errCanceled
		}
	}
	if code := s.takeFault(rg.name, op); code != "" {
		return nil, injectedError(code)
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	// Timestamps are kept to the millisecond, like AWS's.
	return run(s, rg, op, body, time.UnixMilli(time.Now().UnixMilli()))
}

func injectedError(code string) *apiError {
	switch code {
	case "ThrottlingException":
		return newError(code, "Rate exceeded")
	case codeInternalServiceError, codeInternalFailure:
		return newError(code, "An error occurred (%s) on the server side. (injected by smtest)", code)
	case codeServiceUnavailable:
		return newError(code, "Service unavailable. (injected by smtest)")
	}
	return newError(code, "%s injected by smtest.FailNext", code)
}

// decode unmarshals a request body, answering SerializationException for
// malformed JSON or members of the wrong type.
func decode(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return newError(codeSerialization, "Unexpected value for member %q: %v", typeErr.Field, err)
		}
		return newError(codeSerialization, "Malformed request body: %v", err)
	}
	return nil
}

// plainBodies is the transport of the clients that Client and Config hand
// out. It sends request bodies without their io.WriterTo method, working
// around a race between the AWS SDK's HTTP layer (smithy-go) and net/http:
// the SDK closes the request body as soon as the response headers arrive,
// and its body's WriteTo then returns io.EOF. net/http reads the body once
// more after the last byte (to detect a body longer than ContentLength); when
// a server as fast as this loopback emulator has already answered, that read
// goes through WriteTo, fails, and net/http closes the connection while the
// response body is still being read ("use of closed network connection",
// seen with 64 KiB responses in about 1 of 100 calls). Read, unlike WriteTo,
// reports the closed body as a clean io.EOF.
type plainBodies struct{ base *http.Transport }

// readerOnly hides every method of a request body but Read and Close.
type readerOnly struct{ io.ReadCloser }

func (t plainBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, ok := r.Body.(io.WriterTo); ok {
		r = r.Clone(r.Context())
		r.Body = readerOnly{r.Body}
	}
	return t.base.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the transport, as
// http.Client.CloseIdleConnections expects of it.
func (t plainBodies) CloseIdleConnections() { t.base.CloseIdleConnections() }
