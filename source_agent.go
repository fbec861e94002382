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
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
)

// agentSource reads secrets through the local HTTP API of the AWS Secrets
// Manager Agent and of the AWS Parameters and Secrets Lambda Extension:
// GET /secretsmanager/get?secretId=…&versionStage=…, with the SSRF token in
// the X-Aws-Parameters-Secrets-Token header. Normal reads use the agent's
// cache; reads after a rejected login ask it for refreshNow=true. The
// process needs no AWS SDK client and no AWS credentials.
type agentSource struct {
	addr   string // host:port
	client *http.Client

	mu       sync.Mutex
	token    string
	tokenVar string // the variable the token came from, for errors
}

// agentIdentity: readers of one agent share cached values (the agent reads
// with its own credentials).
type agentIdentity struct{ addr string }

var _ secretReader = (*agentSource)(nil)

// defaultAgentPort is the agent's and the Lambda extension's default.
const defaultAgentPort = "2773"

// newAgentSource reads through the agent at d.agent, or localhost on the
// port the Lambda extension documents.
func newAgentSource(d *dsnConfig) *agentSource {
	addr := d.agent
	if addr == "" {
		port := os.Getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT")
		if !validPort(port) {
			port = defaultAgentPort
		}
		addr = net.JoinHostPort("localhost", port)
	}
	// The agent is local: no proxy, a short dial, a bounded reply.
	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{}).DialContext, MaxIdleConnsPerHost: 4}
	return &agentSource{addr: addr, client: &http.Client{Transport: tr}}
}

func (s *agentSource) identity() any { return agentIdentity{addr: s.addr} }

func (s *agentSource) describe() sourceInfo {
	return sourceInfo{kind: "agent", endpoint: "http://" + s.addr}
}

// agentTokenVars are where the agent reads its SSRF token, in order; the
// client reads it the same way. A value file://PATH is read from the file.
var agentTokenVars = []string{"AWS_TOKEN", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"}

// loadToken reads the token (again, after the agent refused it).
func (s *agentSource) loadToken() (string, string, error) {
	for _, v := range agentTokenVars {
		val := os.Getenv(v)
		if val == "" {
			continue
		}
		if path, ok := strings.CutPrefix(val, "file://"); ok {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", v, fmt.Errorf("reading the agent token file named by %s: %w", v, err)
			}
			val = strings.TrimSpace(string(b))
		}
		return val, v, nil
	}
	return "", "", nil
}

func (s *agentSource) currentToken(reload bool) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokenVar == "" || reload {
		tok, v, err := s.loadToken()
		if err != nil {
			return "", v, err
		}
		s.token, s.tokenVar = tok, v
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
// 64 KiB; the JSON around it and base64 add some).
const maxAgentReply = 1 << 20

func (s *agentSource) read(ctx context.Context, r readRequest) (sourceValue, error) {
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
			return sourceValue{}, s.transportError(r, err)
		}
		if status == http.StatusForbidden && !reload {
			continue // the token may have changed: read it again, once
		}
		if status != http.StatusOK {
			return sourceValue{}, s.statusError(r, status, body, tokVar)
		}
		var rep agentReply
		if err := json.Unmarshal(body, &rep); err != nil {
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

// get makes one request; the token is never part of an error.
func (s *agentSource) get(ctx context.Context, q url.Values, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.addr+"/secretsmanager/get?"+q.Encode(), nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAgentReply))
	return resp.StatusCode, body, err
}

// fail makes a FetchError of the agent source.
func (s *agentSource) fail(r readRequest, code string, err error, hint string) *FetchError {
	return &FetchError{SecretID: r.secretID, Stage: r.stage, Code: code, Kind: ErrSecretsManager, Err: err, hint: hint}
}

// transportError classifies a request that got no answer.
func (s *agentSource) transportError(r readRequest, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL holds the secret id only, but keep errors short
	}
	fe := s.fail(r, "", err, "no answer from the agent at "+s.addr)
	fe.unavailable = true
	if errors.Is(err, syscall.ECONNREFUSED) {
		fe.hint = "is the Secrets Manager Agent (or the Lambda extension) running on " + s.addr + "?"
	}
	return fe
}

// agentError is the JSON of a Secrets Manager error the agent passes on.
type agentError struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
	Msg     string `json:"Message"`
}

// statusError classifies an answer other than 200 by its status, and a
// Secrets Manager error by its code.
func (s *agentSource) statusError(r readRequest, status int, body []byte, tokenVar string) error {
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200]
	}
	err := fmt.Errorf("the agent answered HTTP %d: %s", status, text)
	fe := s.fail(r, "", err, "")
	var ae agentError
	if json.Unmarshal(body, &ae) == nil && ae.Type != "" {
		code := ae.Type
		if i := strings.LastIndexByte(code, '#'); i >= 0 {
			code = code[i+1:]
		}
		code, _, _ = strings.Cut(code, ":")
		classifyCode(fe, code)
		fe.Err = fmt.Errorf("the agent answered HTTP %d: %s: %s", status, code, ae.Message+ae.Msg)
		if status >= 500 { // 502 ConnectionError, 504 TimeoutError, 500 InternalFailure
			fe.unavailable = true
			fe.hint = "the agent could not reach Secrets Manager"
		}
		return fe
	}
	switch {
	case status == http.StatusForbidden:
		fe.Code = "BadToken"
		if tokenVar == "" {
			fe.hint = "the agent wants its SSRF token, and none of " + strings.Join(agentTokenVars, ", ") + " is set"
		} else {
			fe.hint = "the agent refused the SSRF token taken from " + tokenVar + "; it reads its own from the first of " +
				strings.Join(agentTokenVars, ", ") + " set in its environment"
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
