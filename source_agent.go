package secretsql

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/secretsql/secretsql/internal/smallfile"
)

// agentSource reads secrets through the local HTTP API of the AWS Secrets
// Manager Agent and of the AWS Parameters and Secrets Lambda Extension:
// GET /secretsmanager/get?secretId=…&versionStage=…, with the SSRF token in
// the X-Aws-Parameters-Secrets-Token header. Normal reads use the agent's
// cache; reads after a rejected login ask it for refreshNow=true. The
// process needs no AWS SDK client and no AWS credentials.
//
// The agent listens on loopback and never redirects: the source connects to
// loopback addresses only (whatever a name resolves to), follows no
// redirect, and never lets the token into an error, even one the answer
// echoes. Every agent source shares one HTTP transport (agentTransport).
type agentSource struct {
	addr   string // host:port
	client *http.Client

	mu       sync.Mutex
	token    string
	tokenVar string // the variable the token came from, for errors
	loaded   bool   // token and tokenVar were read
}

// agentIdentity: readers of one agent share cached values (the agent reads
// with its own credentials).
type agentIdentity struct{ addr string }

var (
	_ secretReader = (*agentSource)(nil)
	_ closer       = (*agentSource)(nil)
)

// defaultAgentPort is the agent's and the Lambda extension's default.
const defaultAgentPort = "2773"

// Bounds of the shared transport's idle pool: the agent is one local
// process (or a few, by port), and a connect needs one request at a time.
const (
	agentMaxIdlePerHost = 4
	agentMaxIdle        = 16
	agentIdleTimeout    = 30 * time.Second
)

// agentTransport is the HTTP transport of every agent source: local
// connections only (no proxy, a short dial, loopback addresses only), a
// bounded idle pool with an idle timeout, and bounded headers.
var (
	agentTransport = &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{Timeout: 2 * time.Second, Control: loopbackOnly}).DialContext,
		MaxIdleConns:           agentMaxIdle,
		MaxIdleConnsPerHost:    agentMaxIdlePerHost,
		IdleConnTimeout:        agentIdleTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableCompression:     true,
	}
	agentClient = &http.Client{
		Transport: agentTransport,
		// The agent never redirects: a redirect is answered as it is,
		// and the token goes nowhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
)

// errNotLoopback refuses a connection to an address that is not loopback.
var errNotLoopback = errors.New("the address is not on loopback: the agent and the Lambda extension listen on localhost only")

// loopbackOnly is the dialer's check of the address it is about to
// connect to, after name resolution.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return errNotLoopback
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return errNotLoopback
	}
	return nil
}

// loopbackHost reports whether host names the local host: localhost, an
// address in 127.0.0.0/8, or ::1 (an IPv4-mapped form included).
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// newAgentSource reads through the agent at d.agent, or localhost on the
// port the Lambda extension documents. Close it with close.
func newAgentSource(d *dsnConfig) *agentSource {
	addr := d.agent
	if addr == "" {
		port := os.Getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")
		if !validPort(port) {
			port = defaultAgentPort
		}
		addr = net.JoinHostPort("localhost", port)
	}
	return &agentSource{addr: addr, client: agentClient}
}

// close closes the idle connections of the shared transport (those of
// other agent sources too: their next read connects again, locally). Reads
// after close still work. close is idempotent.
func (s *agentSource) close() {
	agentTransport.CloseIdleConnections()
}

func (s *agentSource) identity() any { return agentIdentity{addr: s.addr} }

func (s *agentSource) describe() sourceInfo {
	return sourceInfo{kind: "agent", endpoint: "http://" + s.addr}
}

// agentTokenVars are where the agent reads its SSRF token, in order; the
// client reads it the same way, but for AWS_SESSION_TOKEN outside Lambda
// (see inLambda). A value file://PATH is read from the file.
var agentTokenVars = []string{"AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}

// inLambda reports whether the process runs in AWS Lambda, where the
// extension takes the function's AWS_SESSION_TOKEN as its SSRF token.
// Elsewhere AWS_SESSION_TOKEN is the process's own STS session token, a
// credential that is never sent to the agent.
func inLambda() bool {
	return os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" || os.Getenv("AWS_LAMBDA_RUNTIME_API") != ""
}

// maxAgentToken bounds a token file.
const maxAgentToken = 4 << 10

// loadToken reads the token (again, after the agent refused it).
func (s *agentSource) loadToken() (string, string, error) {
	lambda := inLambda()
	for _, v := range agentTokenVars {
		val := os.Getenv(v)
		if val == "" || v == "AWS_SESSION_TOKEN" && !lambda {
			continue
		}
		if path, ok := strings.CutPrefix(val, "file://"); ok {
			b, err := readTokenFile(path)
			if err != nil {
				return "", v, fmt.Errorf("reading the agent token file named by %s: %w", v, err)
			}
			val = strings.TrimSpace(string(b))
		}
		for _, c := range []byte(val) {
			if c <= ' ' || c == 0x7f {
				return "", v, fmt.Errorf("the agent token in %s holds a space or a control character", v)
			}
		}
		return val, v, nil
	}
	return "", "", nil
}

func readTokenFile(path string) ([]byte, error) { return smallfile.Read(path, maxAgentToken) }

func (s *agentSource) currentToken(reload bool) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loaded || reload {
		tok, v, err := s.loadToken()
		if err != nil {
			return "", v, err
		}
		s.token, s.tokenVar, s.loaded = tok, v, true
	}
	return s.token, s.tokenVar, nil
}

// agentReply is the agent's 200 body: GetSecretValue's output.
type agentReply struct {
	ARN          string
	VersionID    string `json:"VersionId"`
	SecretString *string
	SecretBinary string
}

// maxAgentReply bounds what is read of an answer (a secret is at most
// 64 KiB; the JSON around it and base64 add some); maxAgentErrorBody
// bounds what is read of an error (Secrets Manager's are a few hundred
// bytes), and maxQuoted what an error quotes of it.
const (
	maxAgentReply     = 1 << 20
	maxAgentErrorBody = 16 << 10
	maxQuoted         = 200
)

// agentDeadline bounds a request when the caller's context has no
// deadline (the agent gives up on Secrets Manager after 61 s).
const agentDeadline = 65 * time.Second

func (s *agentSource) read(ctx context.Context, r readRequest) (sourceValue, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, agentDeadline)
		defer cancel()
	}
	q := url.Values{"secretId": {r.secretID}, "versionStage": {r.stage}}
	if r.fresh {
		q.Set("refreshNow", "true")
	}
	for reload := false; ; reload = true {
		tok, tokVar, err := s.currentToken(reload)
		if err != nil {
			return sourceValue{}, s.fail(r, "", err, "the SSRF token cannot be read")
		}
		status, body, err := s.get(ctx, q, tok)
		if err != nil {
			return sourceValue{}, s.transportError(r, err, tok)
		}
		if status == http.StatusForbidden && !reload {
			continue // the token may have changed: read it again, once
		}
		if status != http.StatusOK {
			return sourceValue{}, s.statusError(r, status, body, tok, tokVar)
		}
		var rep agentReply
		if err := json.Unmarshal(body, &rep); err != nil || !printable(rep.ARN, 2048) || !printable(rep.VersionID, 128) ||
			tok != "" && (strings.Contains(rep.ARN, tok) || strings.Contains(rep.VersionID, tok)) {
			return sourceValue{}, s.fail(r, "", errors.New("the agent's answer is not GetSecretValue's JSON"), "is "+s.addr+" the Secrets Manager Agent?")
		}
		v := sourceValue{arn: rep.ARN, versionID: rep.VersionID}
		if rep.SecretString != nil {
			v.value = []byte(*rep.SecretString)
		} else if v.value, err = base64.StdEncoding.DecodeString(rep.SecretBinary); err != nil {
			return sourceValue{}, s.fail(r, "", errors.New("SecretBinary is not base64"), "")
		}
		return v, nil
	}
}

// printable reports whether s is at most n bytes of printable ASCII.
func printable(s string, n int) bool {
	if len(s) > n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// get makes one request and reads a bounded answer; the token is never
// part of an error.
func (s *agentSource) get(ctx context.Context, q url.Values, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/secretsmanager/get?"+q.Encode(), nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("X-Aws-Parameters-Secrets-Token", token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	limit := int64(maxAgentErrorBody)
	if resp.StatusCode == http.StatusOK {
		limit = maxAgentReply
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp.StatusCode, body, err
}

// fail makes a FetchError of the agent source.
func (s *agentSource) fail(r readRequest, code string, err error, hint string) *FetchError {
	return &FetchError{SecretID: r.secretID, Stage: r.stage, Code: code, Kind: ErrSecretsManager, Err: err, hint: hint,
		source: "agent", where: s.addr}
}

// transportError classifies a request that got no answer. net/http may
// quote what the server sent (a malformed status line): the error is
// scrubbed like a body, and its chain dropped if it held the token.
func (s *agentSource) transportError(r readRequest, err error, token string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL holds the secret id only, but keep errors short
	}
	if text, leak := quoteText(err.Error(), token); leak {
		err = errors.New(text) // not even wrapped
	} else if text != err.Error() {
		err = &scrubbedError{text: text, err: err}
	}
	fe := s.fail(r, "", err, "no answer from the agent at "+s.addr)
	fe.unavailable = true
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		fe.hint = "is the Secrets Manager Agent (or the Lambda extension) running on " + s.addr + "?"
	case errors.Is(err, errNotLoopback):
		fe.unavailable = false
		fe.hint = s.addr + " does not resolve to a loopback address"
	}
	return fe
}

// scrubbedError shows a scrubbed text of err, and wraps it.
type scrubbedError struct {
	text string
	err  error
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

// agentError is the JSON of a Secrets Manager error the agent passes on.
type agentError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
	Msg     string `json:"Message"`
}

// statusError classifies an answer other than 200 by its status, and a
// Secrets Manager error by its code. What it quotes of the body is
// bounded, without control characters, and without the token.
func (s *agentSource) statusError(r readRequest, status int, body []byte, token, tokenVar string) error {
	err := fmt.Errorf("the agent answered HTTP %d: %s", status, quote(string(body), token))
	fe := s.fail(r, "", err, "")
	var ae agentError
	if json.Unmarshal(body, &ae) == nil && ae.Type != "" {
		code := ae.Type
		if i := strings.LastIndexByte(code, '#'); i >= 0 {
			code = code[i+1:]
		}
		code, _, _ = strings.Cut(code, ":")
		if !errorCode(code) || token != "" && containsToken(code, token) {
			code = "" // not a code of Secrets Manager's
		}
		classifyCode(fe, code)
		fe.Err = fmt.Errorf("the agent answered HTTP %d: %s: %s", status, orUnknown(code), quote(ae.Message+ae.Msg, token))
		if status >= 500 { // 502 ConnectionError, 504 TimeoutError, 500 InternalFailure
			fe.unavailable = true
			fe.hint = "the agent could not reach Secrets Manager"
		}
		return fe
	}
	switch {
	case status >= 300 && status < 400:
		fe.Err = fmt.Errorf("the agent answered HTTP %d, a redirect (not followed)", status)
		fe.hint = "the agent never redirects: is " + s.addr + " the Secrets Manager Agent?"
	case status == http.StatusForbidden:
		fe.Code = "BadToken"
		others := ""
		if !inLambda() && os.Getenv("AWS_SESSION_TOKEN") != "" {
			others = "; AWS_SESSION_TOKEN is set but read only inside Lambda (elsewhere it is the process's own STS session token)"
		}
		if tokenVar == "" {
			fe.hint = "the agent wants its SSRF token, and none of " + strings.Join(agentTokenVars, ", ") + " is set" + others
		} else {
			fe.hint = "the agent refused the SSRF token taken from " + tokenVar + "; it reads its own from the first of " +
				strings.Join(agentTokenVars, ", ") + " set in its environment" + others
		}
	case status == http.StatusNotFound:
		fe.hint = "is " + s.addr + " the Secrets Manager Agent?"
	case status == http.StatusTooManyRequests:
		fe.Kind, fe.unavailable = ErrThrottled, true
		fe.hint = "the agent has too many requests in flight (its max_conn)"
	case status == http.StatusBadGateway, status == http.StatusGatewayTimeout, status >= 500:
		fe.unavailable = true
		fe.hint = "the agent could not reach Secrets Manager"
	}
	return fe
}

func orUnknown(code string) string {
	if code == "" {
		return "(unknown error code)"
	}
	return code
}

// errorCode reports whether code looks like an AWS error code
// (ResourceNotFoundException, InternalFailure, …).
func errorCode(code string) bool {
	if code == "" || len(code) > 64 {
		return false
	}
	for _, c := range []byte(code) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// quote is what an error may show of text the agent sent: no control or
// format characters (no forged log lines, no terminal escapes), at most
// maxQuoted bytes, and nothing of a text that holds the token.
func quote(text, token string) string {
	q, _ := quoteText(text, token)
	return q
}

// quoteText is quote, and whether text held the token: as sent, escaped
// (JSON, URL), or spread out by spaces or control characters.
func quoteText(text, token string) (string, bool) {
	n := len(text)
	if token != "" {
		dense := strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				return -1
			}
			return r
		}, text)
		if containsToken(dense, token) {
			return "(" + strconv.Itoa(n) + " bytes read, not shown: they hold the SSRF token)", true
		}
	}
	out := strings.TrimSpace(stripControl(text))
	if len(out) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "… (" + strconv.Itoa(n) + " bytes read)"
	}
	return out, false
}

// stripControl drops control and format characters (bidirectional
// overrides, zero-width characters), Unicode line and paragraph separators
// and invalid UTF-8; a line break or tab becomes a space.
func stripControl(text string) string {
	var b strings.Builder
	for _, r := range text {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r == utf8.RuneError, unicode.IsControl(r), unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// containsToken reports whether text holds the token or an escaped form
// of it (JSON, Go-quoted, URL query or path).
func containsToken(text, token string) bool {
	j, _ := json.Marshal(token)
	q := strconv.Quote(token)
	for _, form := range []string{token, url.QueryEscape(token), url.PathEscape(token), q[1 : len(q)-1], string(j[1 : len(j)-1])} {
		if strings.Contains(text, form) {
			return true
		}
	}
	return false
}
