package secretsql

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// failoverSource reads a replica of the secret in another region when the
// primary region is unavailable (multi-Region secrets: same name, an ARN
// that differs only in its region). It fails over only on availability
// errors (no answer, a timeout, a 5xx, throttling), never on an answer such
// as AccessDenied or ResourceNotFound, and only when the read is needed: a
// first read, or a forced read after a rejected login — a background
// refresh keeps serving the cached value instead. Every read tries the
// primary first, so reads go back to it as soon as it answers.
//
// A replica is the primary's only: the failover region is read by the
// replica's full ARN (the primary's with the region swapped), and its
// answer is served only if it carries that ARN. A secret of the same name
// there that is not the replica is never served. The primary's ARN is the
// DSN's when it is a full ARN, else the one the primary answered last to a
// source of the same identity in this process; a secret named by name (or
// partial ARN) whose primary has not answered yet does not fail over.
type failoverSource struct {
	primary   secretReader
	secondary *apiSource
	region    string // the failover region
}

// failoverIdentity: both regions' readers.
type failoverIdentity struct{ primary, secondary any }

var _ interface {
	secretReader
	closer
} = (*failoverSource)(nil)

// newFailoverSource reads primary, and the GetSecretValue API in the DSN's
// failover region (with the same client options: the agent cannot read
// another region).
func newFailoverSource(primary secretReader, d *dsnConfig, cfg *config) (*failoverSource, error) {
	d2 := *d
	d2.region, d2.secretID = d.failoverRegion, replicaID(d.secretID, d.failoverRegion)
	secondary, err := newAPISource(&d2, cfg)
	if err != nil {
		return nil, err
	}
	return &failoverSource{primary: primary, secondary: secondary, region: d.failoverRegion}, nil
}

// replicaID is the id of the replica of secretID in region: a name stays,
// an ARN gets the region.
func replicaID(secretID, region string) string {
	a, err := arn.Parse(secretID)
	if err != nil {
		return secretID
	}
	a.Region = region
	return a.String()
}

// fullSecretARN reports whether id is a secret's ARN that may be complete:
// its name ends with the "-" and six characters Secrets Manager appends. A
// partial ARN (without them) names whatever secret of that name a region
// holds, as a name does. A name that itself ends so looks complete: the
// answer's ARN, compared in full, tells.
func fullSecretARN(id string) bool {
	a, ok := parseSecretARN(id)
	if !ok {
		return false
	}
	name := strings.TrimPrefix(a.Resource, "secret:")
	i := len(name) - 7
	if i < 1 || name[i] != '-' {
		return false
	}
	for _, r := range name[i+1:] {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// primaryARNs remembers the ARN the primary region answered for a secret
// id, by the primary's identity, so that a secret named by name can fail
// over to its replica (and no other secret) in a later read, also of
// another Connector. Bounded: cleared when full.
var primaryARNs = struct {
	sync.Mutex
	m map[primaryKey]string
}{m: map[primaryKey]string{}}

type primaryKey struct {
	who      any
	secretID string
}

const maxPrimaryARNs = 1024

func learnPrimaryARN(k primaryKey, a string) {
	primaryARNs.Lock()
	defer primaryARNs.Unlock()
	if old, ok := primaryARNs.m[k]; ok && old == a {
		return
	}
	if len(primaryARNs.m) >= maxPrimaryARNs {
		clear(primaryARNs.m)
	}
	primaryARNs.m[k] = a
}

func knownPrimaryARN(k primaryKey) string {
	primaryARNs.Lock()
	defer primaryARNs.Unlock()
	return primaryARNs.m[k]
}

// replicaARN returns the full ARN of secretID's replica in the failover
// region, or "" when the primary's ARN is not known.
func (s *failoverSource) replicaARN(secretID string) string {
	primary := knownPrimaryARN(primaryKey{who: s.primary.identity(), secretID: secretID})
	if primary == "" && fullSecretARN(secretID) {
		primary = secretID
	}
	if _, ok := parseSecretARN(primary); !ok {
		return ""
	}
	return replicaID(primary, s.region)
}

func (s *failoverSource) identity() any {
	return failoverIdentity{primary: s.primary.identity(), secondary: s.secondary.identity()}
}

func (s *failoverSource) describe() sourceInfo { return s.primary.describe() }

func (s *failoverSource) read(ctx context.Context, r readRequest) (sourceValue, error) {
	// The primary gets half the time left, so that a hanging region leaves
	// time for the failover.
	pctx := ctx
	if dl, ok := ctx.Deadline(); ok && !r.background {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, time.Until(dl)/2)
		defer cancel()
	}
	v, err := s.primary.read(pctx, r)
	if err == nil && v.arn != "" {
		learnPrimaryARN(primaryKey{who: s.primary.identity(), secretID: r.secretID}, v.arn)
	}
	var fe *FetchError
	if err == nil || r.background || ctx.Err() != nil || !errors.As(err, &fe) || !fe.unavailable {
		return v, err
	}
	want := s.replicaARN(r.secretID)
	if want == "" {
		return sourceValue{}, withHint(fe, "no failover to "+s.region+": the DSN names the secret without its full ARN "+
			"and its primary region has not answered yet, so its replica there cannot be told from another secret "+
			"of the same name; give the secret's full ARN in the DSN to fail over on a cold start")
	}
	r2 := r
	r2.secretID = want
	v2, err2 := s.secondary.read(ctx, r2)
	if err2 != nil {
		return sourceValue{}, withHint(fe, "the failover region "+s.region+" failed too: "+err2.Error())
	}
	if v2.arn != want {
		return sourceValue{}, withHint(fe, "the failover region "+s.region+" answered with secret "+v2.arn+
			", not the primary's replica "+want+": not served")
	}
	v2.region, v2.failoverFrom = s.region, err
	return v2, nil
}

// withHint returns a copy of the primary's error fe with more in its hint.
func withHint(fe *FetchError, more string) *FetchError {
	fe2 := *fe
	h := fe.hint
	if h == "" {
		h = strings.TrimSuffix(strings.TrimPrefix(fe.defaultHint(), " ("), ")")
	}
	if h != "" {
		h += "; "
	}
	fe2.hint = h + more
	return &fe2
}

// close passes the release on to the readers that hold something (the
// agent's transport).
func (s *failoverSource) close() {
	if c, ok := s.primary.(closer); ok {
		c.close()
	}
}
