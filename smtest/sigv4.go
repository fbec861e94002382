package smtest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	signingService  = "secretsmanager"
	maxClockSkew    = 15 * time.Minute
	scopeTerminator = "aws4_request"
)

// sigV4Auth is a parsed "Authorization: AWS4-HMAC-SHA256 ..." header.
type sigV4Auth struct {
	accessKeyID   string
	date          string // YYYYMMDD from the credential scope
	region        string
	service       string
	terminator    string
	signedHeaders string // as sent, e.g. "content-length;content-type;host;x-amz-date"
	signature     string // lower-case hex
}

// parseAuthorization parses a SigV4 Authorization header value. Any
// structural problem is an IncompleteSignatureException, as with AWS.
func parseAuthorization(h string) (*sigV4Auth, *apiError) {
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return nil, newError(codeIncompleteSignature,
			"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=%s", h)
	}
	if alg != sigV4Algorithm {
		return nil, newError(codeIncompleteSignature, "Unsupported AWS 'algorithm': '%s'.", alg)
	}
	params := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		params[k] = v
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return nil, newError(codeIncompleteSignature, "%s Authorization=%s", strings.Join(missing, " "), h)
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" {
		return nil, newError(codeIncompleteSignature,
			"Credential should be scoped to a valid region, service and terminator: '%s'.", params["Credential"])
	}
	sig := params["Signature"]
	if _, err := hex.DecodeString(sig); err != nil || len(sig) != 2*sha256.Size {
		return nil, newError(codeIncompleteSignature, "Signature must be 64 hexadecimal characters.")
	}
	return &sigV4Auth{
		accessKeyID:   scope[0],
		date:          scope[1],
		region:        scope[2],
		service:       scope[3],
		terminator:    scope[4],
		signedHeaders: params["SignedHeaders"],
		signature:     strings.ToLower(sig),
	}, nil
}

// verifySigV4 checks the request's AWS Signature Version 4 by re-signing a
// copy of it (same method, URI, signed headers, X-Amz-Date, and the SHA-256
// of the body actually received) with the SDK's own signer and comparing the
// signatures in constant time. It returns the region the request was signed
// for, one the server serves.
func (s *Server) verifySigV4(ctx context.Context, r *http.Request, body []byte, now time.Time) (*region, *apiError) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, newError(codeMissingAuthToken, "Missing Authentication Token")
	}
	auth, aerr := parseAuthorization(authz)
	if aerr != nil {
		return nil, aerr
	}

	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return nil, newError(codeIncompleteSignature,
			"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", authz)
	}
	signingTime, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, newError(codeIncompleteSignature,
			"Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", amzDate)
	}

	if auth.accessKeyID != s.accessKeyID {
		return nil, newError(codeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	if auth.date != signingTime.Format("20060102") {
		return nil, newError(codeInvalidSignature,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			auth.date, signingTime.Format("20060102"), amzDate)
	}
	rg := s.regions.get(auth.region)
	if rg == nil {
		return nil, newError(codeInvalidSignature,
			"Credential should be scoped to a valid region, not '%s'. ", auth.region)
	}
	if auth.service != signingService {
		return nil, newError(codeInvalidSignature,
			"Credential should be scoped to correct service: '%s'. ", signingService)
	}
	if auth.terminator != scopeTerminator {
		return nil, newError(codeInvalidSignature,
			"Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerminator, auth.terminator)
	}

	// Host and X-Amz-Target must be signed: otherwise a request seen once
	// could be replayed, within the clock skew, to another host name or as
	// another operation.
	signed := strings.Split(auth.signedHeaders, ";")
	if !slices.Contains(signed, "host") {
		return nil, newError(codeInvalidSignature, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if r.Header.Get("X-Amz-Target") != "" && !slices.Contains(signed, "x-amz-target") {
		return nil, newError(codeInvalidSignature, "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
	}

	if now.Sub(signingTime) > maxClockSkew {
		return nil, newError(codeInvalidSignature,
			"Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).UTC().Format(amzDateFormat), now.UTC().Format(amzDateFormat))
	}
	if signingTime.Sub(now) > maxClockSkew {
		return nil, newError(codeInvalidSignature,
			"Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxClockSkew).UTC().Format(amzDateFormat), now.UTC().Format(amzDateFormat))
	}

	// Rebuild the request as the client saw it when signing: only the signed
	// headers, the Host and Content-Length the server parsed out of the
	// header map, and the path and query as received.
	cp := &http.Request{
		Method: r.Method,
		URL: &url.URL{
			Scheme:   "http",
			Host:     r.Host,
			Path:     r.URL.Path,
			RawPath:  r.URL.RawPath,
			RawQuery: r.URL.RawQuery,
		},
		Host:   r.Host,
		Header: make(http.Header, len(signed)),
	}
	for _, name := range signed {
		switch name {
		case "host":
			// Taken from cp.Host.
		case "content-length":
			cp.ContentLength = r.ContentLength
		default:
			if vals := r.Header.Values(name); len(vals) > 0 {
				cp.Header[http.CanonicalHeaderKey(name)] = vals
			}
		}
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	creds := aws.Credentials{AccessKeyID: s.accessKeyID, SecretAccessKey: s.secretAccessKey}
	if err := s.signer.SignHTTP(ctx, creds, cp, payloadHash, signingService, rg.name, signingTime); err != nil {
		return nil, newError(codeInternalFailure, "re-signing the request: %v", err)
	}
	want, perr := parseAuthorization(cp.Header.Get("Authorization"))
	if perr != nil {
		return nil, newError(codeInternalFailure, "re-signing the request: %s", perr.Message)
	}
	if subtle.ConstantTimeCompare([]byte(want.signature), []byte(auth.signature)) != 1 ||
		want.signedHeaders != auth.signedHeaders {
		return nil, newError(codeInvalidSignature,
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return rg, nil
}
