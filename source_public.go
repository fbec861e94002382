package secretsql

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/secretsql/secretsql/credential"
)

// publicSource adapts a [credential.Source] — a caller's own (WithSource)
// or a registered scheme's — to the cache.
type publicSource struct {
	s    credential.Source
	info sourceInfo
}

// publicIdentity shares an entry between readers of one source value.
type publicIdentity struct{ src credential.Source }

var _ interface {
	source
	closer
} = (*publicSource)(nil)

func newPublicSource(s credential.Source) *publicSource {
	p := &publicSource{s: s, info: sourceInfo{kind: "custom", noStages: true, minInterval: defaultMinRefreshInterval}}
	if d, ok := s.(credential.Describer); ok {
		desc := d.Describe()
		if desc.Name != "" {
			p.info.kind = desc.Name
		}
		if desc.Identity != nil && comparableValue(desc.Identity) {
			p.info.identity = desc.Identity
		}
		p.info.ttl = max(desc.RefreshInterval, 0)
		if desc.MinInterval >= 0 {
			p.info.minInterval = desc.MinInterval
		}
		p.info.releaseIdle = desc.ReleaseIdle
	}
	if p.info.identity == nil && comparableValue(s) {
		p.info.identity = publicIdentity{src: s}
	}
	return p
}

func (p *publicSource) describe() sourceInfo { return p.info }

func (p *publicSource) fetch(ctx context.Context, r fetchRequest) (fetched, error) {
	start := time.Now()
	c, err := p.s.Fetch(ctx, credential.Request{Rejected: r.rejected, Background: r.background})
	if err == nil && c.Version == "" {
		err = errors.New("secretsql: the " + p.info.kind + " source handed out a credential without a Version")
	}
	ev := Event{Kind: EventFetch, Duration: time.Since(start), VersionID: c.Version}
	if err != nil {
		ev.Kind, ev.Err, ev.VersionID = EventFetchFailed, err, ""
	}
	r.report(ev)
	if err != nil {
		return fetched{}, err
	}
	return fetched{cred: c}, nil
}

// close closes the source when it is an io.Closer.
func (p *publicSource) close() {
	if c, ok := p.s.(io.Closer); ok {
		_ = c.Close()
	}
}

// sameSource reports whether a and b adapt the same source value, so that
// a second reader's adapter must not close the first one's source.
func sameSource(a, b source) bool {
	pa, ok1 := a.(*publicSource)
	pb, ok2 := b.(*publicSource)
	return ok1 && ok2 && comparableValue(pa.s) && comparableValue(pb.s) && pa.s == pb.s
}

// openScheme opens the source of a DSN whose scheme a package registered
// with credential.RegisterScheme.
func openScheme(d *dsnConfig) (source, error) {
	open, _, ok := credential.Lookup(d.scheme)
	if !ok {
		return nil, dsnErr("", "unknown DSN scheme "+d.scheme+": (import the package that serves it)", nil)
	}
	src, err := open(credential.DSN{Scheme: d.scheme, Opaque: d.opaque, Query: d.schemeQuery})
	if err != nil {
		var de *DSNError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, &DSNError{Reason: "the " + d.scheme + " source refuses the DSN", Err: err}
	}
	return newPublicSource(src), nil
}

// schemeOf returns the lower-cased scheme of a DSN's id ("" for a Secrets
// Manager secret name or ARN, which hold no other colon).
func schemeOf(id string) string {
	if strings.HasPrefix(id, "arn:") {
		return ""
	}
	i := strings.IndexByte(id, ':')
	if i <= 0 {
		return ""
	}
	return strings.ToLower(id[:i])
}

// splitSchemeQuery moves the keys a scheme registered out of params.
func splitSchemeQuery(scheme string, params url.Values) url.Values {
	_, keys, _ := credential.Lookup(scheme)
	q := url.Values{}
	for k, v := range params {
		if keys[k] {
			q[k] = v
			delete(params, k)
		}
	}
	return q
}
