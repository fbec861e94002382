package secretsql

import (
	"context"
	"errors"
	"sync"
	"time"
)

// secretReader reads versions of a Secrets Manager secret by staging label:
// the GetSecretValue API (apiSource), the Secrets Manager Agent
// (agentSource), or either with a failover region (failoverSource).
// smSource turns what it reads into credentials.
type secretReader interface {
	// identity is a comparable value that names who reads: two readers
	// with equal identities may share cached values, two with different
	// identities never do. It includes everything that changes what a read
	// returns (the AWS principal, the region, the endpoint).
	identity() any

	// read returns the version of secretID that carries the staging
	// label stage. fresh asks a reader with a cache of its own (the agent)
	// to skip it (a read after the database rejected the credentials).
	read(ctx context.Context, r readRequest) (sourceValue, error)

	// describe tells where reads go, for Resolved and errors.
	describe() sourceInfo
}

// readRequest is what smSource asks a reader for.
type readRequest struct {
	secretID   string
	stage      string
	fresh      bool // skip the reader's own cache (after a rejected login)
	background bool // a refresh while a cached value is in use
}

// sourceValue is one version of a secret as a reader returns it.
type sourceValue struct {
	arn       string // the secret's ARN, "" if the reader does not know it
	versionID string // the version's id
	value     []byte // SecretString (or SecretBinary)

	region       string // the region that served it, if not the reader's own (a failover) …
	failoverFrom error  // … and why the primary region did not
}

// smSource is a Secrets Manager secret as a credential source. Its policy
// is Secrets Manager's: it reads one staging label (AWSCURRENT unless the
// DSN says otherwise); after the database rejected a version it reads
// AWSPENDING first — during a rotation's setSecret→finishSecret window it
// holds the password the database now expects — then the label again; an
// AWSPENDING version that logged in is used until AWSCURRENT changes
// (adoption); and the database's rejections decide between versions.
//
// AWSPENDING comes first because a rotation moves AWSCURRENT before it
// takes AWSPENDING off: if AWSPENDING is gone, a later read of AWSCURRENT
// sees the new version. In the other order finishSecret can fall between
// the reads, which then both miss the new version.
type smSource struct {
	r         secretReader
	secretID  string
	stage     string
	pendingOK bool // read AWSPENDING after a rejected login
	info      sourceInfo

	minRefresh time.Duration // the least time between two forced reads of a label

	mu         sync.Mutex
	pendRead   readMark             // forced reads of AWSPENDING …
	curRead    readMark             // … and of the label
	cur        *fetched             // the latest value of stage
	pend       *fetched             // the latest AWSPENDING answer (nil: none)
	adopted    *fetched             // an AWSPENDING version that logged in …
	adoptedOn  string               // … while cur had this VersionId
	rejections map[string]time.Time // the last rejection of each version held
}

// smIdentity scopes cache entries of a secret: who reads, which secret and
// label, and whether AWSPENDING is read.
type smIdentity struct {
	reader    any
	secretID  string
	stage     string
	pendingOK bool
}

var _ interface {
	source
	acceptor
	steerer
	closer
} = (*smSource)(nil)

func newSMSource(r secretReader, secretID, stage string, pendingOK bool, minRefresh time.Duration) *smSource {
	info := r.describe()
	info.identity = smIdentity{reader: r.identity(), secretID: secretID, stage: stage, pendingOK: pendingOK}
	// The cache does not rate-limit forced reads: the source does, per
	// label (see gate).
	info.minInterval = 0
	return &smSource{r: r, secretID: secretID, stage: stage, pendingOK: pendingOK, minRefresh: minRefresh, info: info,
		rejections: map[string]time.Time{}}
}

func (s *smSource) describe() sourceInfo { return s.info }

// close closes the reader if it holds something (the agent's transport).
func (s *smSource) close() {
	if c, ok := s.r.(closer); ok {
		c.close()
	}
}

// timeoutError is the error of a connect that waited its fetch timeout.
func (s *smSource) timeoutError() error {
	return classifyFetchError(s.secretID, s.stage, context.DeadlineExceeded)
}

func (s *smSource) fetch(ctx context.Context, r fetchRequest) (fetched, error) {
	if r.rejected == "" {
		v, err := s.read(ctx, s.stage, r.fresh, r)
		if err != nil {
			return fetched{}, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.cur = &v
		s.prune()
		return s.effective(), nil
	}
	s.mu.Lock()
	if s.lookup(r.rejected) != nil && !r.broken {
		s.rejections[r.rejected] = time.Now()
	}
	s.mu.Unlock()
	since := r.since
	if s.pendingOK && !r.broken {
		if ok, err := s.gate(ctx, &s.pendRead, since, r.wait); err != nil {
			return fetched{}, err
		} else if ok {
			p, err := s.read(ctx, StagePending, true, r)
			if err != nil && !errors.Is(err, ErrSecretNotFound) && ctx.Err() != nil {
				return fetched{}, err
			}
			s.mu.Lock()
			s.pendRead.end = time.Now()
			switch {
			case err == nil:
				s.pend = &p
			case errors.Is(err, ErrSecretNotFound):
				s.pend = nil
			}
			s.prune()
			s.mu.Unlock()
		}
		s.mu.Lock()
		eff := s.effective()
		_, bad := s.rejections[eff.cred.Version]
		// The label must be read after that AWSPENDING answer came back.
		if s.pendRead.end.After(since) {
			since = s.pendRead.end
		}
		s.mu.Unlock()
		if eff.cred.Version != r.rejected && !bad {
			return eff, nil
		}
	}
	ok, err := s.gate(ctx, &s.curRead, since, r.wait)
	if err != nil {
		return fetched{}, err
	}
	if !ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.effective(), nil
	}
	v, err := s.read(ctx, s.stage, true, r)
	if err != nil {
		return fetched{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.curRead.end = time.Now()
	s.cur = &v
	s.prune()
	return s.effective(), nil
}

// readMark records the last forced read of a label.
type readMark struct{ start, end time.Time }

// gate decides whether a forced read of a label is made now: at most one
// per minimum refresh interval. Within the interval, the last read answers
// for a rejection first met before it started (since); when it is older (a
// rotation began since), the read waits for the interval within ctx if
// wait. It reports whether to read.
func (s *smSource) gate(ctx context.Context, m *readMark, since time.Time, wait bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		d := s.minRefresh - time.Since(m.start)
		if d > 0 && (!wait || !m.start.Before(since)) {
			return false, nil // the last read answers for this rejection
		}
		if d <= 0 {
			m.start = time.Now()
			return true, nil
		}
		s.mu.Unlock()
		ok := sleep(ctx, d)
		s.mu.Lock()
		if !ok {
			return false, ctx.Err()
		}
	}
}

// read reads one label and reports it.
func (s *smSource) read(ctx context.Context, label string, fresh bool, r fetchRequest) (fetched, error) {
	start := time.Now()
	sv, err := s.r.read(ctx, readRequest{secretID: s.secretID, stage: label, fresh: fresh, background: r.background})
	took := time.Since(start)
	ev := Event{Kind: EventFetch, SecretID: s.secretID, Stage: label, Duration: took, Region: sv.region}
	if err != nil {
		ev.Kind, ev.Err = EventFetchFailed, err
		r.report(ev)
		return fetched{}, err
	}
	f := versionOf(sv, label, s.secretID)
	ev.VersionID = f.cred.Version
	r.report(ev)
	if sv.failoverFrom != nil {
		r.report(Event{Kind: EventFailover, SecretID: s.secretID, Stage: label, VersionID: ev.VersionID,
			Region: sv.region, Duration: took, Err: sv.failoverFrom})
	}
	return f, nil
}

// versionOf makes the credential of a version read by label; a value that
// cannot be parsed gives the version's *SecretError.
func versionOf(sv sourceValue, label, secretID string) fetched {
	f := fetched{stage: label, arn: sv.arn, region: sv.region}
	if f.arn == "" {
		f.arn = secretID
	}
	v, err := parseSecret(sv.value, f.arn, sv.versionID)
	f.cred, f.err = v.credential(), err
	f.cred.Version = sv.versionID
	return f
}

// effective is the version connects should use now. s.mu must be held and
// s.cur set.
//
// That is the label's, unless an AWSPENDING version logged in while the
// label still had the value it has now (a rotation between setSecret and
// finishSecret), or the database rejected that version and AWSPENDING
// holds another one that it did not reject more recently.
func (s *smSource) effective() fetched {
	cur := s.cur
	best := cur
	if s.adopted != nil && s.adoptedOn == cur.cred.Version {
		best = s.adopted
	}
	p := s.pend
	if p == nil || p.cred.Version == best.cred.Version || p.cred.Version == cur.cred.Version {
		return *best
	}
	bestRej, ok := s.rejections[best.cred.Version]
	if !ok {
		return *best
	}
	if pRej, ok := s.rejections[p.cred.Version]; ok && !pRej.Before(bestRej) {
		return *best
	}
	return *p
}

// lookup finds a version held by its id. s.mu must be held.
func (s *smSource) lookup(id string) *fetched {
	for _, v := range []*fetched{s.cur, s.pend, s.adopted} {
		if v != nil && v.cred.Version == id {
			return v
		}
	}
	return nil
}

// prune forgets rejections of versions no longer held. s.mu must be held.
func (s *smSource) prune() {
	for id := range s.rejections {
		if s.lookup(id) == nil {
			delete(s.rejections, id)
		}
	}
}

// rejected records that the database rejected version id and returns the
// version to use now if it is another one held already.
func (s *smSource) rejected(id string) (fetched, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil || s.lookup(id) == nil {
		return fetched{}, false
	}
	s.rejections[id] = time.Now()
	eff := s.effective()
	return eff, eff.cred.Version != id
}

// accepted records that f logged in at a login that began at started: an
// AWSPENDING version is then used until the label changes, and a
// rejection of f before started is forgotten (one after it is newer news
// than this login's). It returns the version to use from now on.
func (s *smSource) accepted(f fetched, started time.Time) ([]Event, fetched, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil, fetched{}, false
	}
	id := f.cred.Version
	if t, ok := s.rejections[id]; ok && t.Before(started) {
		delete(s.rejections, id)
	}
	var evs []Event
	held := s.lookup(id)
	if f.stage == StagePending && held != nil && id != s.cur.cred.Version &&
		!(s.adopted != nil && s.adopted.cred.Version == id && s.adoptedOn == s.cur.cred.Version) {
		s.adopted, s.adoptedOn = held, s.cur.cred.Version
		evs = append(evs, Event{Kind: EventPendingAdopted, SecretID: s.secretID, Stage: StagePending, VersionID: id})
	}
	return evs, s.effective(), true
}
