package secretsql

import (
	"context"
	"errors"
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
type failoverSource struct {
	primary   secretReader
	secondary *apiSource
	region    string // the failover region
	secretID  string // the secret's id in the failover region
}

// failoverIdentity: both regions' readers.
type failoverIdentity struct{ primary, secondary any }

var _ secretReader = (*failoverSource)(nil)

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
	return &failoverSource{primary: primary, secondary: secondary, region: d.failoverRegion, secretID: d2.secretID}, nil
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
	var fe *FetchError
	if err == nil || r.background || ctx.Err() != nil || !errors.As(err, &fe) || !fe.unavailable {
		return v, err
	}
	r2 := r
	r2.secretID = s.secretID
	v2, err2 := s.secondary.read(ctx, r2)
	if err2 != nil {
		fe2 := *fe
		fe2.hint = fe.defaultHint()
		if fe.hint != "" {
			fe2.hint = fe.hint
		}
		fe2.hint += "; the failover region " + s.region + " failed too: " + err2.Error()
		return sourceValue{}, &fe2
	}
	v2.region, v2.failoverFrom = s.region, err
	return v2, nil
}
