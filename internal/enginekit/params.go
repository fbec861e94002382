package enginekit

import (
	"fmt"
	"net/url"
	"slices"

	"github.com/secretsql/secretsql"
)

// Params are the rules of an engine whose driver takes its connection
// parameters under keys it matches without regard to case.
type Params struct {
	// Fold is how the driver compares keys (strings.ToLower,
	// strings.ToUpper); the sets below hold folded keys.
	Fold func(string) string
	// Known are the parameters a DSN may pass through.
	Known map[string]bool
	// Credential carry credentials, which come only from the secret.
	Credential map[string]bool
	// Endpoint name the server or the database, which come from the
	// secret or from secretsql's host, port and dbname keys.
	Endpoint map[string]bool
	// MultiValued may be given more than once; every other key exactly
	// once.
	MultiValued map[string]bool
	// EndpointReason and UnknownReason are the reasons of the DSNError
	// for an Endpoint key and for a key not Known.
	EndpointReason, UnknownReason string
	// ParseReason is the reason of the DSNError when the driver's parser
	// rejects the parameters.
	ParseReason string
}

// Check validates a DSN's driver parameters and returns them keyed by
// their folded key. The error is a *secretsql.DSNError naming the key as
// the DSN spells it.
func (p Params) Check(params url.Values) (url.Values, error) {
	query := make(url.Values, len(params))
	seen := make(map[string]string, len(params))
	for k, vs := range params {
		fk := p.Fold(k)
		switch {
		case p.Credential[fk]:
			return nil, &secretsql.DSNError{Key: k, Reason: "credentials come only from the secret; remove this key"}
		case p.Endpoint[fk]:
			return nil, &secretsql.DSNError{Key: k, Reason: p.EndpointReason}
		case !p.Known[fk]:
			return nil, &secretsql.DSNError{Key: k, Reason: p.UnknownReason}
		}
		if other, dup := seen[fk]; dup {
			return nil, &secretsql.DSNError{Key: k, Reason: fmt.Sprintf("given twice (as %q and %q); keys are case-insensitive", other, k)}
		}
		seen[fk] = k
		if len(vs) == 0 || len(vs) > 1 && !p.MultiValued[fk] {
			return nil, &secretsql.DSNError{Key: k, Reason: "must be given exactly once"}
		}
		query[fk] = slices.Clone(vs)
	}
	return query, nil
}

// Parse checks params (see [Params.Check]) and has the driver's parser,
// parse, accept the result, so that the driver's own errors are reported
// when the DSN is opened. When parse refuses them, the DSNError names the
// key that parse refuses on its own, if one does (none does when the error
// comes from a combination of keys).
func (p Params) Parse(params url.Values, parse func(url.Values) error) (url.Values, error) {
	query, err := p.Check(params)
	if err != nil {
		return nil, err
	}
	if err := parse(query); err != nil {
		return nil, &secretsql.DSNError{Key: p.offending(params, parse), Reason: p.ParseReason, Err: err}
	}
	return query, nil
}

// offending returns the key of params that parse refuses alone, or "".
func (p Params) offending(params url.Values, parse func(url.Values) error) string {
	for k, vs := range params {
		if parse(url.Values{p.Fold(k): vs}) != nil {
			return k
		}
	}
	return ""
}
