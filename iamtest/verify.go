package iamtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Mode says which kind of token a key signs.
type Mode string

// The two kinds of token.
const (
	// RDS is RDS / Aurora IAM database authentication: service rds-db,
	// Action=connect, DBUser = the login user, endpoint host:port.
	RDS Mode = "rds"
	// DSQL is Aurora DSQL: service dsql, Action=DbConnect (or
	// DbConnectAdmin for the admin user), no DBUser, endpoint host only.
	DSQL Mode = "dsql"
)

// Token lifetimes, as AWS defines them, and the verifier's limits.
const (
	// RDSLifetime is the validity of an RDS IAM token (X-Amz-Expires=900).
	RDSLifetime = 15 * time.Minute
	// DSQLMaxLifetime is the longest validity of a DSQL token.
	DSQLMaxLifetime = 7 * 24 * time.Hour
	// MaxClockSkew is how far in the future X-Amz-Date may be.
	MaxClockSkew = 5 * time.Minute
	// MaxTokenSize is the longest token Verify reads.
	MaxTokenSize = 8 << 10
)

// Signing service names of the credential scope.
const (
	// ServiceRDS signs RDS / Aurora IAM tokens.
	ServiceRDS = "rds-db"
	// ServiceDSQL signs Aurora DSQL tokens.
	ServiceDSQL = "dsql"
)

// Actions a token may carry.
const (
	ActionConnect        = "connect"        // RDS
	ActionDBConnect      = "DbConnect"      // DSQL, any user but the admin
	ActionDBConnectAdmin = "DbConnectAdmin" // DSQL, the admin user only
)

// DefaultAdminUser is the DSQL user that must log in with DbConnectAdmin.
const DefaultAdminUser = "admin"

// Why a token is refused. Every error of [Verify] matches exactly one of
// them with errors.Is.
var (
	// ErrMalformed: not a presigned SigV4 URL (missing or repeated
	// parameter, bad date, unsupported algorithm or signed headers, …).
	ErrMalformed = errors.New("iamtest: malformed token")
	// ErrUnknownKey: the access key id is not in the key lookup.
	ErrUnknownKey = errors.New("iamtest: unknown access key")
	// ErrSignature: the signature does not match the secret key of the
	// token's access key (a changed byte, another secret key).
	ErrSignature = errors.New("iamtest: signature mismatch")
	// ErrExpired: X-Amz-Date plus the accepted lifetime has passed.
	ErrExpired = errors.New("iamtest: token expired")
	// ErrNotYetValid: X-Amz-Date is more than MaxClockSkew in the future.
	ErrNotYetValid = errors.New("iamtest: token not yet valid")
	// ErrWrongUser: DBUser is not the login user.
	ErrWrongUser = errors.New("iamtest: token for another user")
	// ErrWrongEndpoint: the token's host (and port) is not the server's.
	ErrWrongEndpoint = errors.New("iamtest: token for another endpoint")
	// ErrWrongAction: Action is not the one the mode and user need.
	ErrWrongAction = errors.New("iamtest: wrong action")
	// ErrWrongScope: the credential scope names another service or
	// region, or a date other than X-Amz-Date's.
	ErrWrongScope = errors.New("iamtest: wrong credential scope")
	// ErrSessionToken: X-Amz-Security-Token is not the key's session
	// token.
	ErrSessionToken = errors.New("iamtest: wrong session token")
)

// Expect is what a server checks a token against.
type Expect struct {
	// Mode is RDS or DSQL (default RDS).
	Mode Mode
	// User is the login user.
	User string
	// Endpoints are the endpoints the server answers as: "host:port" in
	// RDS mode, "host" in DSQL mode. The host is compared without regard
	// to case. At least one is required.
	Endpoints []string
	// Region, when set, is the only region accepted in the credential
	// scope.
	Region string
	// AdminUser is the DSQL user that needs DbConnectAdmin (default
	// DefaultAdminUser); every other user needs DbConnect.
	AdminUser string
	// Lifetime, when positive, shortens the accepted lifetime: a token
	// expires at X-Amz-Date + min(X-Amz-Expires, Lifetime). RDS tokens
	// never live longer than RDSLifetime, DSQL tokens DSQLMaxLifetime.
	Lifetime time.Duration
	// Now is the time of the login.
	Now time.Time
}

// Key is what a key lookup returns for an access key id.
type Key struct {
	// SecretAccessKey signs the token.
	SecretAccessKey string
	// SessionToken, when set, must be the token's X-Amz-Security-Token
	// (temporary credentials); when empty the token must carry none.
	SessionToken string
}

// Lookup returns the key of an access key id, or false if there is none.
type Lookup func(accessKeyID string) (Key, bool)

// Token is what Verify found in an accepted token. It holds no secret.
type Token struct {
	Mode        Mode
	Endpoint    string // host:port (RDS) or host (DSQL), as in the token
	Action      string
	User        string // DBUser (RDS); the login user (DSQL)
	AccessKeyID string
	Region      string
	Issued      time.Time // X-Amz-Date
	Expires     time.Time // when the server stops accepting it
}

const (
	algorithm       = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	// The payload hash of a token: the SHA-256 of the empty body (both
	// aws-sdk-go-v2 and botocore sign it).
	emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Verify checks token as RDS (or DSQL) checks it at login: the SigV4
// query signature with the secret key lookup returns for the token's access
// key (service rds-db or dsql, signed header host, the payload hash of
// aws-sdk-go-v2 or of botocore), the action, DBUser equal to want.User (RDS),
// the endpoint, the region, and that X-Amz-Date plus the accepted lifetime
// has not passed at want.Now. The token may start with "host:port/?" (botocore)
// or "host:port?" (aws-sdk-go-v2); a leading scheme is refused. The payload
// hash is the SHA-256 of the empty body, as both SDKs sign it.
//
// It is a pure function: it reads no clock, file or network. Its errors
// match one of the Err variables and never contain the token, its
// signature or its session token.
func Verify(token string, want Expect, lookup Lookup) (*Token, error) {
	mode := want.Mode
	if mode == "" {
		mode = RDS
	}
	if mode != RDS && mode != DSQL {
		return nil, fmt.Errorf("%w: unknown mode %q", ErrMalformed, mode)
	}
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrMalformed, len(token), MaxTokenSize)
	}
	hostPart, rawQuery, ok := strings.Cut(token, "?")
	if !ok {
		return nil, fmt.Errorf("%w: no query string", ErrMalformed)
	}
	hostPart = strings.TrimSuffix(hostPart, "/")
	if hostPart == "" || strings.ContainsAny(hostPart, "/@ \t\r\n\x00") {
		return nil, fmt.Errorf("%w: the token does not start with the endpoint", ErrMalformed)
	}
	params, err := parseQuery(rawQuery)
	if err != nil {
		return nil, err
	}
	get := func(k string) string { return params[k] }
	for _, k := range []string{"Action", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if _, ok := params[k]; !ok {
			return nil, fmt.Errorf("%w: no %s", ErrMalformed, k)
		}
	}
	if get("X-Amz-Algorithm") != algorithm {
		return nil, fmt.Errorf("%w: algorithm %q", ErrMalformed, get("X-Amz-Algorithm"))
	}
	if get("X-Amz-SignedHeaders") != "host" {
		return nil, fmt.Errorf("%w: signed headers %q (want host)", ErrMalformed, get("X-Amz-SignedHeaders"))
	}
	sig, err := hex.DecodeString(get("X-Amz-Signature"))
	if err != nil || len(sig) != sha256.Size {
		return nil, fmt.Errorf("%w: the signature is not 64 hex digits", ErrMalformed)
	}
	issued, err := time.Parse(amzDateFormat, get("X-Amz-Date"))
	if err != nil {
		return nil, fmt.Errorf("%w: X-Amz-Date is not YYYYMMDDTHHMMSSZ", ErrMalformed)
	}
	expiresIn, err := strconv.Atoi(get("X-Amz-Expires"))
	if err != nil || expiresIn < 1 || expiresIn > int(DSQLMaxLifetime/time.Second) {
		return nil, fmt.Errorf("%w: X-Amz-Expires is not 1…604800 seconds", ErrMalformed)
	}
	scope := strings.Split(get("X-Amz-Credential"), "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != "aws4_request" {
		return nil, fmt.Errorf("%w: X-Amz-Credential is not AKID/date/region/service/aws4_request", ErrMalformed)
	}
	akid, scopeDate, region, service := scope[0], scope[1], scope[2], scope[3]

	// The signature first: nothing else in the token is trusted before it.
	key, ok := lookup(akid)
	if !ok {
		return nil, fmt.Errorf("%w %s", ErrUnknownKey, akid)
	}
	if !signatureMatches(key.SecretAccessKey, hostPart, params, sig, get("X-Amz-Date"), get("X-Amz-Credential")) {
		return nil, fmt.Errorf("%w (access key %s)", ErrSignature, akid)
	}
	if !hmac.Equal([]byte(get("X-Amz-Security-Token")), []byte(key.SessionToken)) {
		return nil, fmt.Errorf("%w (access key %s)", ErrSessionToken, akid)
	}

	wantService, endpoint := ServiceRDS, hostPart
	if mode == DSQL {
		wantService = ServiceDSQL
	}
	if service != wantService {
		return nil, fmt.Errorf("%w: service %q, want %q", ErrWrongScope, service, wantService)
	}
	if scopeDate != issued.Format(scopeDateFormat) {
		return nil, fmt.Errorf("%w: scope date %q is not X-Amz-Date's", ErrWrongScope, scopeDate)
	}
	if want.Region != "" && region != want.Region {
		return nil, fmt.Errorf("%w: region %q, want %q", ErrWrongScope, region, want.Region)
	}
	if !endpointMatches(mode, endpoint, want.Endpoints) {
		return nil, fmt.Errorf("%w: %q is not one of %q", ErrWrongEndpoint, endpoint, want.Endpoints)
	}

	action, user := get("Action"), want.User
	switch mode {
	case RDS:
		if action != ActionConnect {
			return nil, fmt.Errorf("%w: %q, want %q", ErrWrongAction, action, ActionConnect)
		}
		if get("DBUser") != want.User {
			return nil, fmt.Errorf("%w: DBUser %q, login user %q", ErrWrongUser, get("DBUser"), want.User)
		}
	case DSQL:
		admin := want.AdminUser
		if admin == "" {
			admin = DefaultAdminUser
		}
		wantAction := ActionDBConnect
		if want.User == admin {
			wantAction = ActionDBConnectAdmin
		}
		if action != wantAction {
			return nil, fmt.Errorf("%w: %q for user %q, want %q", ErrWrongAction, action, want.User, wantAction)
		}
	}

	lifetime := time.Duration(expiresIn) * time.Second
	if mode == RDS {
		lifetime = min(lifetime, RDSLifetime)
	}
	if want.Lifetime > 0 {
		lifetime = min(lifetime, want.Lifetime)
	}
	expires := issued.Add(lifetime)
	if issued.Sub(want.Now) > MaxClockSkew {
		return nil, fmt.Errorf("%w: issued %s, now %s", ErrNotYetValid, issued.Format(time.RFC3339), want.Now.UTC().Format(time.RFC3339))
	}
	if !want.Now.Before(expires) {
		return nil, fmt.Errorf("%w: issued %s, expired %s (lifetime %s), now %s", ErrExpired,
			issued.Format(time.RFC3339), expires.Format(time.RFC3339), lifetime, want.Now.UTC().Format(time.RFC3339Nano))
	}
	return &Token{
		Mode: mode, Endpoint: endpoint, Action: action, User: user,
		AccessKeyID: akid, Region: region, Issued: issued, Expires: expires,
	}, nil
}

// parseQuery decodes a query string; a repeated or empty-named parameter
// is an error, so that the verified and the signed parameters are the same.
func parseQuery(raw string) (map[string]string, error) {
	params := map[string]string{}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || dk == "" {
			return nil, fmt.Errorf("%w: bad query parameter encoding", ErrMalformed)
		}
		if _, dup := params[dk]; dup {
			return nil, fmt.Errorf("%w: parameter %q repeated", ErrMalformed, dk)
		}
		params[dk] = dv
	}
	return params, nil
}

// signatureMatches recomputes the SigV4 query signature of a GET of
// https://host/ with params (but X-Amz-Signature) for each form of the host
// header (as written, as aws-sdk-go-v2 signs it; in lower case, as botocore
// signs it), and compares in constant time.
func signatureMatches(secret, host string, params map[string]string, sig []byte, amzDate, credential string) bool {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "X-Amz-Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var q strings.Builder
	for i, k := range keys {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString(awsEscape(k))
		q.WriteByte('=')
		q.WriteString(awsEscape(params[k]))
	}
	_, rest, _ := strings.Cut(credential, "/")
	scope := rest // date/region/service/aws4_request
	date, rest, _ := strings.Cut(scope, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, _, _ := strings.Cut(rest, "/")
	signingKey := hmacSHA256([]byte("AWS4"+secret), date)
	signingKey = hmacSHA256(signingKey, region)
	signingKey = hmacSHA256(signingKey, service)
	signingKey = hmacSHA256(signingKey, "aws4_request")

	hosts := []string{host}
	if lower := strings.ToLower(host); lower != host {
		hosts = append(hosts, lower)
	}
	match := false
	for _, h := range hosts {
		canonical := "GET\n/\n" + q.String() + "\nhost:" + h + "\n\nhost\n" + emptyPayloadHash
		sum := sha256.Sum256([]byte(canonical))
		toSign := algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
		if hmac.Equal(hmacSHA256(signingKey, toSign), sig) {
			match = true
		}
	}
	return match
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// awsEscape is SigV4's URI encoding: every byte but A-Z a-z 0-9 - _ . ~ as
// %XX (upper-case hex).
func awsEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// endpointMatches reports whether the token's endpoint is one of want: the
// same host (any case) and, in RDS mode, the same port (required).
func endpointMatches(mode Mode, got string, want []string) bool {
	gotHost, gotPort := got, ""
	if mode == RDS {
		h, p, err := net.SplitHostPort(got)
		if err != nil || p == "" {
			return false
		}
		gotHost, gotPort = h, p
	}
	for _, w := range want {
		wHost, wPort := w, ""
		if mode == RDS {
			h, p, err := net.SplitHostPort(w)
			if err != nil {
				continue
			}
			wHost, wPort = h, p
		}
		if strings.EqualFold(gotHost, wHost) && gotPort == wPort {
			return true
		}
	}
	return false
}
