package secretsql

import (
	"context"
	"time"
)

// A source reads versions of secrets: the seam between the cache and the
// ways a secret reaches the process (the GetSecretValue API today). The
// cache calls read on behalf of every connect waiting for the value, with a
// context bounded by the fetch timeout, and classifies nothing itself: a
// source returns the typed errors of this package ([*FetchError]).
type source interface {
	// identity is a comparable value that names who reads: two sources
	// with equal identities may share cached values, two with different
	// identities never do. It includes everything that changes what a read
	// returns (the AWS principal, the region, the endpoint).
	identity() any

	// read returns the version of secretID that carries the staging
	// label stage (a source without labels has one version at a time).
	// fresh asks a source with a cache of its own to skip it (a read after
	// the database rejected the credentials).
	read(ctx context.Context, r readRequest) (sourceValue, error)

	// describe tells where reads go, for Resolved and errors.
	describe() sourceInfo
}

// readRequest is what the cache asks a source for.
type readRequest struct {
	secretID   string
	stage      string
	fresh      bool // skip the source's own cache (after a rejected login)
	background bool // a refresh while a cached value is in use
}

// sourceValue is one version of a secret as a source returns it.
type sourceValue struct {
	arn       string // the secret's ARN, "" if the source does not know it
	versionID string // the version's id
	value     []byte // SecretString (or SecretBinary)

	region       string // the region that served it, if not the source's own (a failover) …
	failoverFrom error  // … and why the primary region did not
}

// sourceInfo describes a source.
type sourceInfo struct {
	kind     string        // "secretsmanager", "agent" or "file", for events
	region   string        // the AWS region read, "" if none
	endpoint string        // "" for the SDK's default endpoint
	noStages bool          // no staging labels: no AWSPENDING to read (a file)
	ttl      time.Duration // the refresh interval unless the DSN or an option sets one; 0 for the default
}

// newSource builds the source a DSN names: a file, the agent, or the
// GetSecretValue API (the default), with a failover region if the DSN
// gives one.
func newSource(d *dsnConfig, cfg *config) (source, error) {
	if d.file != "" {
		return &fileSource{path: d.file}, nil
	}
	var primary source
	if d.source == "agent" {
		primary = newAgentSource(d)
	} else {
		api, err := newAPISource(d, cfg)
		if err != nil {
			return nil, err
		}
		primary = api
	}
	if d.failoverRegion == "" {
		return primary, nil
	}
	return newFailoverSource(primary, d, cfg)
}
