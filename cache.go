package secretsql

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Cache owns cached secret values and the background work that keeps them
// fresh. Every [Connector], driver and [Handle] reads through one: the
// process-wide default cache unless [WithCache] names another. A Cache keeps
// one entry per secret, staging label and reading identity (the AWS
// principal, region and endpoint of the client): readers share an entry,
// and so its GetSecretValue calls, only when they read with the same
// identity, so a value fetched with one principal's credentials is never
// handed to a reader with another's.
//
// An entry outlives its last reader for its refresh interval (with no
// background refresh meanwhile), so that opening and closing a sql.DB per
// request does not read the secret each time; idle entries are evicted
// after that, and at most a few hundred are kept. Close a Cache made with
// NewCache when it is no longer used.
type Cache struct {
	mu      sync.Mutex
	entries map[entryKey]*entry
	idle    int // entries without a reader
	closed  bool
	reads   sync.WaitGroup // reads in flight
}

// NewCache returns an empty Cache. Most programs use the default cache and
// never need one; a Cache of their own isolates a group of Connectors (a
// tenant, a test) and can be closed.
func NewCache() *Cache { return &Cache{entries: map[entryKey]*entry{}} }

// defaultCache serves every reader that names no other.
var defaultCache = NewCache()

// maxIdleEntries bounds the entries kept without a reader.
const maxIdleEntries = 256

// Close stops every background read of the cache and waits for the reads in
// flight to end (events they are delivering may still be running). Readers
// of a closed cache get [ErrClosed]. Close is idempotent.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	entries := make([]*entry, 0, len(c.entries))
	for _, e := range c.entries {
		entries = append(entries, e)
	}
	clear(c.entries)
	c.mu.Unlock()
	for _, e := range entries {
		e.shut()
	}
	c.reads.Wait()
	return nil
}

// entryKey names an entry: who reads (a source's identity), which secret
// and which staging label.
type entryKey struct {
	who      any
	secretID string
	stage    string
}

// attach returns the entry for src, secretID and stage, creating it if
// needed, with h as one of its readers.
func (c *Cache) attach(h *Handle, src source, secretID, stage string) (*entry, error) {
	key := entryKey{who: src.identity(), secretID: secretID, stage: stage}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	e := c.entries[key]
	if e == nil {
		e = &entry{cache: c, key: key, src: src, flights: map[string]*flight{}, marks: map[string]rejection{}}
		c.entries[key] = e
	} else if e.idle() {
		c.idle--
	}
	e.attach(h)
	return e, nil
}

// detach removes reader h from e. An entry left without readers stops its
// reads and is evicted after its grace period, or sooner when too many
// entries are idle.
func (c *Cache) detach(e *entry, h *Handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	grace, idle := e.detach(h)
	if !idle || c.entries[e.key] != e {
		return
	}
	c.idle++
	e.evictAfter(grace, func() { c.evictIdle(e) })
	for c.idle > maxIdleEntries {
		var oldest *entry
		for _, o := range c.entries {
			if o.idle() && (oldest == nil || o.idleSince().Before(oldest.idleSince())) {
				oldest = o
			}
		}
		if oldest == nil {
			break
		}
		c.remove(oldest)
	}
}

// evictIdle removes e if it is still idle. It runs when e's grace period
// ends.
func (c *Cache) evictIdle(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[e.key] == e && e.idle() {
		c.remove(e)
	}
}

// remove drops an idle entry. c.mu must be held.
func (c *Cache) remove(e *entry) {
	delete(c.entries, e.key)
	c.idle--
	e.shut()
}

// version is one fetched value of a secret. It is immutable.
type version struct {
	id        string
	arn       string
	stage     string // the label it was read by
	value     secretValue
	err       error // the value cannot be parsed (a *SecretError)
	fetchedAt time.Time
	jitter    float64 // refresh after jitter × the refresh interval, 0.9 ≤ jitter < 1
}

// flight is one read that any number of callers wait on.
type flight struct {
	done       chan struct{}
	starter    *Handle         // the reader that started it: its events go to it
	caller     context.Context // the starter's, for the events' Context only (nil for a refresh)
	timeout    time.Duration
	background bool          // a refresh nobody waits for
	backoff    time.Duration // the first delay after it fails (its starter's minimum refresh interval)
	v          *version
	err        error
}

// view is what a connect needs of an entry, published after every change so
// that a cache hit takes no lock (and does not read the clock).
type view struct {
	use  *version // effective()
	idle bool     // no refresh to start: none is due, or one is in flight
}

// rejection records when the database rejected a version.
type rejection struct{ first, last time.Time }

// readMark records the last forced read of a label.
type readMark struct{ start, end time.Time }

// entry is the state of one secret for one reading identity: the versions
// known, what the database said of them, the reads in flight and the rate
// limits. Only the methods in this file touch its fields.
type entry struct {
	cache *Cache
	key   entryKey
	src   source

	nmarks atomic.Int32         // len(marks), for the lock-free fast path of accepted
	view   atomic.Pointer[view] // for the lock-free fast path of current; nil: take the lock

	mu      sync.Mutex
	readers []*Handle
	ctx     context.Context // reads run in it; cancelled when the entry goes idle
	cancel  context.CancelFunc
	shutOff bool // evicted, or the cache closed
	grace   time.Duration
	idleAt  time.Time
	evict   *time.Timer

	cur       *version             // the latest value of key.stage
	pend      *version             // the latest AWSPENDING answer (nil: none)
	adopted   *version             // an AWSPENDING version that logged in …
	adoptedOn string               // … while cur had this VersionId
	marks     map[string]rejection // by VersionId, for cur, pend and adopted only
	flights   map[string]*flight   // by label
	pendRead  readMark             // forced reads of AWSPENDING …
	curRead   readMark             // … and of key.stage

	due         bool        // a background refresh is due
	dueTimer    *time.Timer // sets due
	refreshFail int         // consecutive failed background refreshes
	nextRefresh time.Time   // no background refresh before
	coldErr     error       // the last failed first read …
	coldUntil   time.Time   // … answered to callers until then …
	coldTimeout time.Duration
	coldFail    int
}

func (e *entry) attach(h *Handle) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.readers = append(e.readers, h)
	if h.set.ttl > e.grace {
		e.grace = h.set.ttl
	}
	if e.evict != nil {
		e.evict.Stop()
		e.evict = nil
	}
	if e.ctx == nil { // new, or idle until now: a fresh start
		e.ctx, e.cancel = context.WithCancel(context.Background())
		e.coldErr, e.coldFail = nil, 0
	}
	e.armRefresh() // the refresh interval may be shorter now
	e.publish()
}

// release lets go of reader h (see Cache.detach).
func (e *entry) release(h *Handle) { e.cache.detach(e, h) }

// detach removes h; when no reader is left, the reads in flight are
// cancelled (their waiters get ErrClosed). It returns the grace period and
// whether e is now idle.
func (e *entry) detach(h *Handle) (time.Duration, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, r := range e.readers {
		if r == h {
			e.readers = append(e.readers[:i], e.readers[i+1:]...)
			break
		}
	}
	if len(e.readers) > 0 {
		e.armRefresh() // the refresh interval may be longer now
		e.publish()
		return 0, false
	}
	if e.ctx == nil {
		return 0, false
	}
	e.stopReads()
	e.idleAt = time.Now()
	return e.grace, true
}

// stopReads cancels the reads in flight; a new reader starts new ones.
// e.mu must be held.
func (e *entry) stopReads() {
	if e.cancel != nil {
		e.cancel()
	}
	e.ctx, e.cancel = nil, nil
	clear(e.flights)
	if e.dueTimer != nil {
		e.dueTimer.Stop()
	}
	e.publish()
}

// refreshInterval is the shortest of the readers' refresh intervals. e.mu
// must be held.
func (e *entry) refreshInterval() time.Duration {
	var d time.Duration
	for i, r := range e.readers {
		if i == 0 || r.set.ttl < d {
			d = r.set.ttl
		}
	}
	return d
}

// armRefresh makes a background refresh due when the current value is
// older than the refresh interval (at a random 90–100% of it) and the
// backoff after a failed refresh has passed. e.mu must be held.
func (e *entry) armRefresh() {
	if e.dueTimer != nil {
		e.dueTimer.Stop()
	}
	e.due = false
	if e.cur == nil || e.ctx == nil || e.shutOff || len(e.readers) == 0 {
		return
	}
	at := e.cur.fetchedAt.Add(time.Duration(float64(e.refreshInterval()) * e.cur.jitter))
	if at.Before(e.nextRefresh) {
		at = e.nextRefresh
	}
	var t *time.Timer
	t = time.AfterFunc(time.Until(at), func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.dueTimer == t {
			e.due = true
			e.publish()
		}
	})
	e.dueTimer = t
}

func (e *entry) idle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.readers) == 0
}

func (e *entry) idleSince() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.idleAt
}

func (e *entry) evictAfter(d time.Duration, fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evict = time.AfterFunc(d, fn)
}

// shut ends the entry for good: reads stop and its readers get ErrClosed.
func (e *entry) shut() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.shutOff = true
	e.stopReads() // publishes
	if e.evict != nil {
		e.evict.Stop()
	}
}

// closedFor reports whether h may no longer use e. e.mu must be held.
func (e *entry) closedFor(h *Handle) bool { return e.shutOff || e.ctx == nil || h.closed.Load() }

// effective is the version connects should use now. e.mu must be held.
//
// That is AWSCURRENT's, unless an AWSPENDING version logged in while
// AWSCURRENT still had the value it has now (a rotation between setSecret
// and finishSecret), or the database rejected that version and AWSPENDING
// holds another one that it did not reject more recently.
func (e *entry) effective() *version {
	cur := e.cur
	if cur == nil {
		return nil
	}
	best := cur
	if e.adopted != nil && e.adoptedOn == cur.id {
		best = e.adopted
	}
	p := e.pend
	if p == nil || p.id == best.id || p.id == cur.id {
		return best
	}
	bestRej, ok := e.marks[best.id]
	if !ok {
		return best
	}
	if pRej, ok := e.marks[p.id]; ok && !pRej.last.Before(bestRej.last) {
		return best
	}
	return p
}

// publish makes the entry's state visible to the lock-free fast path of
// current. e.mu must be held.
func (e *entry) publish() {
	if e.cur == nil || e.shutOff || e.ctx == nil {
		e.view.Store(nil)
		return
	}
	e.view.Store(&view{use: e.effective(), idle: !e.due || e.flights[e.key.stage] != nil})
}

// lookup finds a version the entry knows by its id. e.mu must be held.
func (e *entry) lookup(id string) *version {
	for _, v := range []*version{e.cur, e.pend, e.adopted} {
		if v != nil && v.id == id {
			return v
		}
	}
	return nil
}

// find looks up a version by its id.
func (e *entry) find(id string) *version {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lookup(id)
}

// peek returns the version in use without reading.
func (e *entry) peek() *version {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.effective()
}

// current returns the version to connect with: the cached one at once
// (starting one background refresh when it is older than h's refresh
// interval), or the result of the first read, shared by every caller.
func (e *entry) current(ctx context.Context, h *Handle) (*version, error) {
	if w := e.view.Load(); w != nil && w.idle && !h.closed.Load() {
		return w.use, nil
	}
	for {
		e.mu.Lock()
		if v := e.effective(); v != nil {
			if e.due && e.flights[e.key.stage] == nil && !e.closedFor(h) {
				e.startFlight(ctx, e.key.stage, h, false, true)
			}
			e.mu.Unlock()
			return v, nil
		}
		if e.closedFor(h) {
			e.mu.Unlock()
			return nil, ErrClosed
		}
		// A failed first read answers the callers of the next moments, but
		// for a caller that would have waited longer than it did.
		if e.coldErr != nil && time.Now().Before(e.coldUntil) && h.set.fetchTimeout <= e.coldTimeout {
			err := e.coldErr
			e.mu.Unlock()
			return nil, err
		}
		f := e.flights[e.key.stage]
		if f == nil {
			f = e.startFlight(ctx, e.key.stage, h, false, false)
		}
		e.mu.Unlock()
		v, err := e.wait(ctx, h, f)
		if err != nil && f.timeout < h.set.fetchTimeout && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			continue // a read with a shorter fetch timeout than h's, started before h came
		}
		return v, err
	}
}

// wait waits for f, for the caller's context and for h's fetch timeout,
// whichever ends first.
func (e *entry) wait(ctx context.Context, h *Handle, f *flight) (*version, error) {
	t := time.NewTimer(h.set.fetchTimeout)
	defer t.Stop()
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, classifyFetchError(e.key.secretID, e.key.stage, context.DeadlineExceeded)
	}
}

// noNewerError says that newer found no credentials other than those
// rejected; fetchErr is a read that failed while looking, if any.
type noNewerError struct{ fetchErr error }

func (e *noNewerError) Error() string {
	if e.fetchErr != nil {
		return "no newer credentials (re-reading the secret failed: " + e.fetchErr.Error() + ")"
	}
	return "no newer credentials"
}

// newerQuery is what a reader asks newer for.
type newerQuery struct {
	failed  *version        // the version the database rejected (or could not use)
	tried   map[string]bool // the versions this caller saw rejected, failed's included (nil: only failed)
	pending bool            // read AWSPENDING too
	wait    bool            // wait out the minimum refresh interval when the last read predates the rejection
}

// newer finds credentials to try after the database rejected q.failed's:
//  1. a version the entry has read or adopted meanwhile (no call);
//  2. if q.pending: AWSPENDING — during a rotation's setSecret→finishSecret
//     window it holds the password the database now expects;
//  3. a fresh read of the entry's label.
//
// Reads are shared by concurrent callers and made at most once per minimum
// refresh interval per label. A read made since the caller's first
// rejection answers for it: when the interval forbids a new one, newer goes
// on with that answer; when the last read is older (a rotation began
// since), it waits for the interval within ctx if q.wait.
//
// AWSPENDING comes first because a rotation moves AWSCURRENT before it takes
// AWSPENDING off: if AWSPENDING is gone, a later read of AWSCURRENT sees the
// new version. In the other order finishSecret can fall between the reads,
// which then both miss the new version.
//
// It returns a *noNewerError when it found nothing but the versions tried.
func (e *entry) newer(ctx context.Context, h *Handle, q newerQuery) (*version, error) {
	e.mu.Lock()
	since := e.reject(q.failed)
	for id := range q.tried {
		if m, ok := e.marks[id]; ok && m.first.Before(since) {
			since = m.first
		}
	}
	fresh := func() *version {
		if v := e.effective(); v != nil && v.id != q.failed.id && !q.tried[v.id] {
			return v
		}
		return nil
	}
	if v := fresh(); v != nil {
		e.mu.Unlock()
		return v, nil
	}
	var fetchErr error
	if q.pending {
		err := e.forcedRead(ctx, h, StagePending, &e.pendRead, since, q.wait)
		if err != nil && !errors.Is(err, ErrSecretNotFound) {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				e.mu.Unlock()
				return nil, err
			}
			fetchErr = err
		}
		if v := fresh(); v != nil {
			e.mu.Unlock()
			return v, nil
		}
		// AWSCURRENT must be read after that AWSPENDING answer came back.
		if e.pendRead.end.After(since) {
			since = e.pendRead.end
		}
	}
	err := e.forcedRead(ctx, h, e.key.stage, &e.curRead, since, q.wait)
	if err != nil && (ctx.Err() != nil || errors.Is(err, ErrClosed)) {
		e.mu.Unlock()
		return nil, err
	}
	if err != nil {
		fetchErr = err
	}
	v := fresh()
	e.mu.Unlock()
	if v != nil {
		return v, nil
	}
	return nil, &noNewerError{fetchErr: fetchErr}
}

// reject records that the database rejected v and returns when it first
// did. e.mu must be held.
func (e *entry) reject(v *version) time.Time {
	now := time.Now()
	m, ok := e.marks[v.id]
	if !ok {
		m.first = now
	}
	m.last = now
	if e.lookup(v.id) != nil {
		e.marks[v.id] = m
		e.nmarks.Store(int32(len(e.marks)))
		e.publish()
	}
	return m.first
}

// forcedRead reads label now, shares a read in flight, or lets the last
// read (at mark) answer when it was made since `since` or the minimum
// refresh interval forbids another and !wait. e.mu must be held; it is
// released while waiting and reacquired. The error is the read's.
func (e *entry) forcedRead(ctx context.Context, h *Handle, label string, mark *readMark, since time.Time, wait bool) error {
	for {
		if e.closedFor(h) {
			return ErrClosed
		}
		f := e.flights[label]
		if f == nil {
			d := h.set.minRefresh - time.Since(mark.start)
			if d > 0 && (!wait || !mark.start.Before(since)) {
				return nil // the last read answers for this rejection
			}
			if d > 0 {
				e.mu.Unlock()
				ok := sleep(ctx, d)
				e.mu.Lock()
				if !ok {
					return ctx.Err()
				}
				continue
			}
			mark.start = time.Now()
			f = e.startFlight(ctx, label, h, true, false)
		}
		e.mu.Unlock()
		_, err := e.wait(ctx, h, f)
		e.mu.Lock()
		return err
	}
}

// loginStart is the start to pass to accepted for a login that begins now,
// so that its success clears only the rejections recorded before it. With
// none recorded it is the zero time, which clears none, and a cache-hit
// connect reads no clock.
func (e *entry) loginStart() time.Time {
	if e.nmarks.Load() == 0 {
		return time.Time{}
	}
	return time.Now()
}

// accepted records that v logged in at a login that began at started: an
// AWSPENDING version is then used until AWSCURRENT changes, and a
// rejection of v before started is forgotten (one after it is newer news
// than this login's). It returns the event of an adoption, for the caller
// to deliver outside the lock.
func (e *entry) accepted(v *version, started time.Time) []Event {
	if v.stage == e.key.stage && e.nmarks.Load() == 0 {
		return nil // the common case, without the lock
	}
	e.mu.Lock()
	if m, ok := e.marks[v.id]; ok && m.last.Before(started) {
		delete(e.marks, v.id)
		e.nmarks.Store(int32(len(e.marks)))
	}
	var evs []Event
	if v.stage == StagePending && e.cur != nil && v.id != e.cur.id && e.lookup(v.id) != nil &&
		!(e.adopted != nil && e.adopted.id == v.id && e.adoptedOn == e.cur.id) {
		e.adopted, e.adoptedOn = v, e.cur.id
		evs = append(evs, Event{Kind: EventPendingAdopted, SecretID: e.key.secretID, Stage: StagePending, VersionID: v.id})
	}
	e.publish()
	e.mu.Unlock()
	return evs
}

// refresh reads the entry's label now (or shares a read in flight).
func (e *entry) refresh(ctx context.Context, h *Handle) error {
	e.mu.Lock()
	if e.closedFor(h) {
		e.mu.Unlock()
		return ErrClosed
	}
	f := e.flights[e.key.stage]
	if f == nil {
		e.curRead.start = time.Now()
		f = e.startFlight(ctx, e.key.stage, h, true, false)
	}
	e.mu.Unlock()
	_, err := e.wait(ctx, h, f)
	return err
}

// startFlight starts one read of label for h, on behalf of the caller
// whose context is ctx (a background refresh is on behalf of nobody). e.mu
// must be held.
func (e *entry) startFlight(ctx context.Context, label string, h *Handle, fresh, background bool) *flight {
	f := &flight{done: make(chan struct{}), starter: h, background: background, backoff: h.set.minRefresh}
	if !background {
		f.caller = ctx
	}
	for _, r := range e.readers {
		f.timeout = max(f.timeout, r.set.fetchTimeout)
	}
	e.flights[label] = f
	e.publish()
	e.cache.reads.Add(1)
	go e.run(e.ctx, f, label, fresh)
	return f
}

// run makes the read of f. It runs for every waiter, so it uses the
// entry's context (cancelled only when the entry goes idle or shuts),
// bounded by the longest fetch timeout of the entry's readers — never a
// caller's context.
func (e *entry) run(ctx context.Context, f *flight, label string, fresh bool) {
	rctx, cancel := context.WithTimeout(ctx, f.timeout)
	start := time.Now()
	sv, err := e.src.read(rctx, readRequest{secretID: e.key.secretID, stage: label, fresh: fresh, background: f.background})
	cancel()
	took := time.Since(start)
	ev := Event{Kind: EventFetch, SecretID: e.key.secretID, Stage: label, Duration: took, Region: sv.region, Context: f.caller}
	var v *version
	switch {
	case ctx.Err() != nil:
		err = ErrClosed
	case err == nil:
		v = newVersion(sv, label, e.key.secretID)
		ev.VersionID = v.id
	default:
		ev.Kind, ev.Err = EventFetchFailed, err
	}
	evs := []Event{ev}
	if err == nil && sv.failoverFrom != nil {
		evs = append(evs, Event{Kind: EventFailover, SecretID: e.key.secretID, Stage: label, VersionID: ev.VersionID,
			Region: sv.region, Duration: took, Err: sv.failoverFrom, Context: f.caller})
	}
	if errors.Is(err, ErrClosed) {
		evs = nil
	}

	e.mu.Lock()
	if e.flights[label] == f {
		delete(e.flights, label)
	}
	evs = append(evs, e.settle(f, label, v, err)...)
	e.publish()
	f.v, f.err = v, err
	e.mu.Unlock()
	e.cache.reads.Done()
	// The reader that started the read hears of it (once, however many
	// share it) before its waiters use it: outside every lock and after
	// Done, so that even Cache.Close may be called from an observer.
	f.starter.emit(evs...)
	close(f.done)
}

// settle updates the entry with the result of a read. e.mu must be held.
func (e *entry) settle(f *flight, label string, v *version, err error) []Event {
	now := time.Now()
	if label == StagePending && label != e.key.stage {
		e.pendRead.end = now
		switch {
		case err == nil:
			e.pend = v
		case errors.Is(err, ErrSecretNotFound):
			e.pend = nil
		}
		e.prune()
		return nil
	}
	if err == nil {
		e.cur = v
		e.coldErr, e.coldFail = nil, 0
		e.refreshFail = 0
		e.prune()
		e.armRefresh()
		return nil
	}
	closed := errors.Is(err, ErrClosed)
	if e.cur == nil && !f.background && !closed {
		e.coldFail++
		e.coldErr, e.coldTimeout = err, f.timeout
		e.coldUntil = now.Add(backoff(f.backoff, e.coldFail, 30*time.Second))
	}
	if !f.background || closed {
		return nil
	}
	e.refreshFail++
	e.nextRefresh = now.Add(backoff(f.backoff, e.refreshFail, 5*time.Minute))
	e.armRefresh()
	var id string
	if e.cur != nil {
		id = e.cur.id
	}
	return []Event{{Kind: EventStaleServed, SecretID: e.key.secretID, Stage: e.key.stage, VersionID: id, Err: err}}
}

// prune forgets rejections of versions the entry no longer holds. e.mu
// must be held.
func (e *entry) prune() {
	for id := range e.marks {
		if e.lookup(id) == nil {
			delete(e.marks, id)
		}
	}
	e.nmarks.Store(int32(len(e.marks)))
}

// newVersion makes a version of what a source read.
func newVersion(sv sourceValue, label, secretID string) *version {
	v := &version{
		id:        sv.versionID,
		arn:       sv.arn,
		stage:     label,
		fetchedAt: time.Now(),
		jitter:    0.9 + rand.Float64()/10,
	}
	if v.arn == "" {
		v.arn = secretID
	}
	v.value, v.err = parseSecret(sv.value, v.arn, v.id)
	return v
}

// backoff is base·2^(n-1) with ±25% jitter, capped at limit.
func backoff(base time.Duration, n int, limit time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
