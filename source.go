package secretsql

import (
	"context"
	"time"

	"github.com/secretsql/secretsql/credential"
)

// source is the cache's side of the credential seam ([credential.Source]
// is the public side, adapted by publicSource). The cache calls fetch on
// behalf of every connect waiting for the result, with a context bounded
// by the longest fetch timeout among them, and knows nothing of what a
// source reads: staging labels, files, tokens and leases are each
// source's own business.
type source interface {
	// describe tells the cache who reads (the identity that scopes cache
	// entries), how often the source may be read, and what to put in
	// events and Resolved.
	describe() sourceInfo

	// fetch reads a credential: the current one, or, when r.rejected is
	// set, one newer than the version the database rejected (returning
	// that version again means there is none).
	fetch(ctx context.Context, r fetchRequest) (fetched, error)
}

// acceptor is a source that wants to know which credentials logged in:
// accepted is called, outside the cache's locks, at the first login of
// each version and at a login after a rejection of it, with the time the
// login began. It returns the events to deliver and, if changed, the
// credential to use from now on (one the source holds already).
type acceptor interface {
	accepted(f fetched, started time.Time) (evs []Event, use fetched, changed bool)
}

// steerer is a source that may hold a better credential than the one the
// database rejected without reading anything (Secrets Manager: an
// AWSPENDING version read before). rejected records the rejection and
// returns that credential, if any. The cache calls it with its entry's
// lock held: it must not call back into the cache.
type steerer interface {
	rejected(id string) (fetched, bool)
}

// closer is a source that holds something to release (an HTTP transport,
// a lease): close is called once, when the cache drops the source — its
// entry evicted or the cache closed — or at once when a new reader's
// source was not needed because an equal one is cached.
type closer interface {
	close()
}

// fetchRequest is what the cache asks a source for.
type fetchRequest struct {
	rejected   string      // the version the database rejected; "" for a plain read
	background bool        // a refresh while a cached credential is in use
	fresh      bool        // skip any cache of the source's own (Connector.Refresh, a forced read)
	broken     bool        // rejected's value cannot be used: look for a fix, not for a rotation
	since      time.Time   // a forced read: when the starter's connect first met a rejection …
	wait       bool        // … and whether it may wait for a rate limit to pass
	report     func(Event) // the source reports each read it makes (EventFetch, EventFetchFailed, EventFailover)
}

// fetched is one credential as a source returns it, with where it came
// from.
type fetched struct {
	cred   credential.Credential
	stage  string // the staging label it was read by ("" for sources without labels)
	arn    string // the secret's ARN (or the source's name for the credential)
	region string // the AWS region that served it, if not the source's own (a failover)
	err    error  // the value cannot be used (a *SecretError naming the version): connects fail with it
}

// sourceInfo describes a source.
type sourceInfo struct {
	kind     string // "secretsmanager", "agent", "file", …, for events
	identity any    // comparable; equal identities share one cache entry (nil: the source itself)
	region   string // the AWS region read, "" if none
	endpoint string // "" for the SDK's default endpoint
	noStages bool   // no staging labels: no AWSPENDING to read (a file)

	authHint    string        // what a rejected login most likely means, for AuthError ("" for none)
	ttl         time.Duration // the refresh interval unless the DSN or an option sets one; 0 for the default
	minInterval time.Duration // the least time between forced reads; 0: none (a local read)
	releaseIdle bool          // release the source when the last reader closes, not after a grace period
}

// newSource builds the source a DSN or the options name: a source of the
// caller's own (WithSource), one of a registered DSN scheme, a file, or a
// Secrets Manager secret read through the agent or the GetSecretValue API
// (the default), with a failover region if the DSN gives one.
func newSource(d *dsnConfig, cfg *config) (source, error) {
	switch {
	case cfg.source != nil:
		return newPublicSource(cfg.source), nil
	case d.file != "":
		return &fileSource{path: d.file}, nil
	case d.token != nil:
		return newTokenSource(d, cfg)
	case d.scheme != "":
		return openScheme(d)
	}
	var r secretReader
	if d.source == "agent" {
		r = newAgentSource(d)
	} else {
		api, err := newAPISource(d, cfg)
		if err != nil {
			return nil, err
		}
		r = api
	}
	if d.failoverRegion != "" {
		fo, err := newFailoverSource(r, d, cfg)
		if err != nil {
			return nil, err
		}
		r = fo
	}
	return smSourceFor(d, cfg, r), nil
}

// smSourceFor makes the Secrets Manager source of a DSN that reads
// through r.
func smSourceFor(d *dsnConfig, cfg *config, r secretReader) *smSource {
	set, stage := cfg.settingsFor(d, r.describe())
	return newSMSource(r, d.secretID, stage, set.pendingOK, set.minRefresh)
}
