package secretsql

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secretsql/secretsql/credential"
)

// Cache owns cached credentials and the background work that keeps them
// fresh. Every [Connector] and driver reads through one: the process-wide
// default cache unless [WithCache] names another. A Cache keeps one entry
// per credential source and reading identity (for Secrets Manager: the
// secret, the staging label and the AWS principal, region and endpoint of
// the client): readers share an entry, and so its reads, only when they
// read with the same identity, so a value fetched with one principal's
// credentials is never handed to a reader with another's.
//
// An entry outlives its last reader for its refresh interval (with no
// background refresh meanwhile), so that opening and closing a sql.DB per
// request does not read the source each time; idle entries are evicted
// after that, and at most a few hundred are kept. An evicted entry's
// source is released (a Vault lease revoked, say). Close a Cache made with
// NewCache when it is no longer used.
type Cache struct {
	mu      sync.Mutex
	entries map[any]*entry
	idle    int // entries without a reader
	closed  bool
	work    sync.WaitGroup // reads in flight and sources being released
}

// NewCache returns an empty Cache. Most programs use the default cache and
// never need one; a Cache of their own isolates a group of Connectors (a
// tenant, a test) and can be closed.
func NewCache() *Cache { return &Cache{entries: map[any]*entry{}} }

// defaultCache serves every reader that names no other.
var defaultCache = NewCache()

// maxIdleEntries bounds the entries kept without a reader.
const maxIdleEntries = 256

// Close stops every background read of the cache, releases every source
// and waits for the reads in flight and the releases to end (events they
// are delivering may still be running). Readers of a closed cache get
// [ErrClosed]. Close is idempotent.
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
		e.shut(true)
	}
	c.work.Wait()
	return nil
}

// attach returns the entry for src, creating it if needed, with h as one
// of its readers. A source equal to a cached one (same identity) is not
// needed: it is released and the cached one serves h.
func (c *Cache) attach(h *Handle, src source) (*entry, error) {
	info := src.describe()
	var key any = src
	if info.identity != nil {
		key = info.identity
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		release(src)
		return nil, ErrClosed
	}
	e := c.entries[key]
	if e == nil {
		e = &entry{cache: c, key: key, src: src, info: info,
			versions: map[string]*version{}, marks: map[string]rejection{}, forced: map[string]time.Time{}}
		c.entries[key] = e
	} else if e.idle() {
		c.idle--
	}
	e.attach(h)
	c.mu.Unlock()
	if e.src != src && !sameSource(e.src, src) {
		release(src)
	}
	return e, nil
}

// release lets a source go of what it holds.
func release(src source) {
	if cl, ok := src.(closer); ok {
		cl.close()
	}
}

// detach removes reader h from e. An entry left without readers stops its
// reads and is evicted after its grace period, or sooner when too many
// entries are idle; the entry of a source that asks to be released when
// idle is removed at once, and its source released before detach returns.
func (c *Cache) detach(e *entry, h *Handle) {
	c.mu.Lock()
	grace, idle := e.detach(h)
	if !idle || c.entries[e.key] != e {
		c.mu.Unlock()
		return
	}
	if e.info.releaseIdle {
		delete(c.entries, e.key)
		rel := e.end() // under c.mu, so that a concurrent Close waits for the release
		c.mu.Unlock()
		rel()
		return
	}
	defer c.mu.Unlock()
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
	e.shut(false)
}

// version is one credential a source handed out. It is immutable.
type version struct {
	id        string
	f         fetched
	fetchedAt time.Time
	until     time.Time    // not handed out from then on (zero: no expiry)
	reread    bool         // a re-read of a version with the same expiry: refresh at until, not ahead
	jitter    float64      // refresh after jitter × the refresh interval, 0.9 ≤ jitter < 1
	loggedIn  *atomic.Bool // a login with it succeeded (shared by re-reads of the version)
}

// usable reports whether v may be handed out at now.
func (v *version) usable(now time.Time) bool { return v.until.IsZero() || now.Before(v.until) }

// The kinds of reads of an entry: at most one of each is in flight.
const (
	plainRead  = iota // the current credential (first read, background refresh, Refresh)
	forcedRead        // after a rejected login: a newer credential
)

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
	use  *version
	idle bool // no refresh to start and not expiring: the hit needs nothing else
}

// rejection records when the database rejected a version.
type rejection struct{ first, last time.Time }

// lifecycle is who reads an entry and how long it lives.
type lifecycle struct {
	readers []*Handle
	ctx     context.Context // reads run in it; cancelled when the entry goes idle
	cancel  context.CancelFunc
	shutOff bool // evicted, or the cache closed
	grace   time.Duration
	idleAt  time.Time
	evict   *time.Timer
}

// schedule is when the entry's credential is refreshed and when it
// expires.
type schedule struct {
	due     bool        // a background refresh is due
	expired bool        // the credential may no longer be handed out
	timer   *time.Timer // sets due
	expiry  *time.Timer // sets expired
	fails   int         // consecutive failed background refreshes
	next    time.Time   // no background refresh before
}

// coldState is the last failed read while no usable credential is cached:
// it answers the callers of the next moments.
type coldState struct {
	err     error
	until   time.Time
	timeout time.Duration
	fails   int
}

// entry is the state of one source for one reading identity: the
// credential in use, what the database said of it, the reads in flight and
// the rate limit of forced reads. It knows nothing of what the source reads
// (labels, files, tokens, leases). Only the methods in this file touch its
// fields.
type entry struct {
	cache *Cache
	key   any
	src   source
	info  sourceInfo

	nmarks atomic.Int32         // len(marks), for the lock-free fast path of accepted
	view   atomic.Pointer[view] // for the lock-free fast path of current; nil: take the lock

	mu       sync.Mutex
	life     lifecycle
	cur      *version
	versions map[string]*version  // the last few handed out, by id (cur's included)
	marks    map[string]rejection // by version id
	forced   map[string]time.Time // the start of the last forced read after a rejection of each version
	flights  [2]*flight           // by kind of read
	sched    schedule
	cold     coldState
}

func (e *entry) attach(h *Handle) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.life.readers = append(e.life.readers, h)
	e.life.grace = max(e.life.grace, h.set.ttl)
	if e.life.evict != nil {
		e.life.evict.Stop()
		e.life.evict = nil
	}
	if e.life.ctx == nil { // new, or idle until now: a fresh start
		e.life.ctx, e.life.cancel = context.WithCancel(context.Background())
		e.cold = coldState{}
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
	for i, r := range e.life.readers {
		if r == h {
			e.life.readers = append(e.life.readers[:i], e.life.readers[i+1:]...)
			break
		}
	}
	if len(e.life.readers) > 0 {
		e.armRefresh() // the refresh interval may be longer now
		e.publish()
		return 0, false
	}
	if e.life.ctx == nil {
		return 0, false
	}
	e.stopReads()
	e.life.idleAt = time.Now()
	return e.life.grace, true
}

// stopReads cancels the reads in flight; a new reader starts new ones.
// e.mu must be held.
func (e *entry) stopReads() {
	if e.life.cancel != nil {
		e.life.cancel()
	}
	e.life.ctx, e.life.cancel = nil, nil
	e.flights = [2]*flight{}
	e.stopTimers()
	e.publish()
}

func (e *entry) stopTimers() {
	for _, t := range []*time.Timer{e.sched.timer, e.sched.expiry} {
		if t != nil {
			t.Stop()
		}
	}
}

// refreshInterval is the shortest of the readers' refresh intervals. e.mu
// must be held.
func (e *entry) refreshInterval() time.Duration {
	var d time.Duration
	for i, r := range e.life.readers {
		if i == 0 || r.set.ttl < d {
			d = r.set.ttl
		}
	}
	return d
}

// armRefresh makes a background refresh due at the earlier of the refresh
// interval (at a random 90–100% of it) and, for a credential that expires,
// 80–90% of its usable life, once the backoff after a failed refresh has
// passed; and it marks the credential expired when its usable life ends.
// e.mu must be held.
func (e *entry) armRefresh() {
	e.stopTimers()
	e.sched.due, e.sched.expired = false, false
	cur := e.cur
	if cur == nil || e.life.ctx == nil || e.life.shutOff || len(e.life.readers) == 0 {
		return
	}
	at := cur.fetchedAt.Add(time.Duration(float64(e.refreshInterval()) * cur.jitter))
	if !cur.until.IsZero() {
		ahead := cur.fetchedAt.Add(time.Duration(float64(cur.until.Sub(cur.fetchedAt)) * (cur.jitter - 0.1)))
		if cur.reread {
			ahead = cur.until // the source had nothing newer ahead of the expiry: ask again at its end
		}
		if ahead.Before(at) {
			at = ahead
		}
		e.sched.expiry = e.fireAt(cur.until, func() **time.Timer { return &e.sched.expiry }, &e.sched.expired)
	}
	if at.Before(e.sched.next) {
		at = e.sched.next
	}
	e.sched.timer = e.fireAt(at, func() **time.Timer { return &e.sched.timer }, &e.sched.due)
}

// fireAt returns a timer that sets flag at t if it is still the one armed
// in slot then. e.mu must be held (the timer reads slot under it).
func (e *entry) fireAt(at time.Time, slot func() **time.Timer, flag *bool) *time.Timer {
	var t *time.Timer
	t = time.AfterFunc(time.Until(at), func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if *slot() == t {
			*flag = true
			e.publish()
		}
	})
	return t
}

func (e *entry) idle() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.life.readers) == 0
}

func (e *entry) idleSince() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.life.idleAt
}

func (e *entry) evictAfter(d time.Duration, fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.life.evict = time.AfterFunc(d, fn)
}

// shut ends the entry for good: reads stop, its readers get ErrClosed, and
// its source is released — before shut returns if wait, else in a
// goroutine of its own (the caller holds the cache's lock); the cache's
// Close waits for it either way.
func (e *entry) shut(wait bool) {
	rel := e.end()
	if wait {
		rel()
		return
	}
	go rel()
}

// end stops the entry's reads and returns the function that releases its
// source, which the cache's Close waits for from now on.
func (e *entry) end() func() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.life.shutOff = true
	e.stopReads() // publishes
	if e.life.evict != nil {
		e.life.evict.Stop()
	}
	e.cache.work.Add(1)
	return func() {
		defer e.cache.work.Done()
		release(e.src)
	}
}

// closedFor reports whether h may no longer use e. e.mu must be held.
func (e *entry) closedFor(h *Handle) bool {
	return e.life.shutOff || e.life.ctx == nil || h.closed.Load()
}

// publish makes the entry's state visible to the lock-free fast path of
// current. e.mu must be held.
func (e *entry) publish() {
	if e.cur == nil || e.life.shutOff || e.life.ctx == nil || e.sched.expired {
		e.view.Store(nil)
		return
	}
	e.view.Store(&view{use: e.cur, idle: !e.sched.due || e.flights[plainRead] != nil})
}

// find looks up a version handed out lately by its id.
func (e *entry) find(id string) *version {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.versions[id]
}

// peek returns the version in use without reading, if it is usable.
func (e *entry) peek() *version {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur != nil && e.cur.usable(time.Now()) {
		return e.cur
	}
	return nil
}

// current returns the version to connect with: the cached one at once
// (starting one background refresh when one is due), or the result of a
// read shared by every caller when none is cached or the cached one is no
// longer usable.
func (e *entry) current(ctx context.Context, h *Handle) (*version, error) {
	if w := e.view.Load(); w != nil && w.idle && !h.closed.Load() {
		return w.use, nil
	}
	for {
		e.mu.Lock()
		if e.closedFor(h) {
			e.mu.Unlock()
			return nil, ErrClosed
		}
		if v := e.cur; v != nil && v.usable(time.Now()) {
			if e.sched.due && e.flights[plainRead] == nil {
				e.startFlight(ctx, h, plainRead, fetchRequest{background: true})
			}
			e.mu.Unlock()
			return v, nil
		}
		// A failed read answers the callers of the next moments, but for a
		// caller that would have waited longer than it did.
		if e.cold.err != nil && time.Now().Before(e.cold.until) && h.set.fetchTimeout <= e.cold.timeout {
			err := e.cold.err
			e.mu.Unlock()
			return nil, err
		}
		f := e.flights[plainRead]
		if f == nil {
			f = e.startFlight(ctx, h, plainRead, fetchRequest{})
		}
		e.mu.Unlock()
		v, err := e.wait(ctx, h, f)
		if err != nil && f.timeout < h.set.fetchTimeout && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			continue // a read with a shorter fetch timeout than h's, started before h came
		}
		if err == nil && !v.usable(time.Now()) {
			// The source has nothing newer than a credential at the end of
			// its life (a password that rotates at its expiry): wait for
			// the expiry, then ask again.
			if !sleep(ctx, min(time.Until(v.f.cred.Expiry), time.Second)+time.Millisecond) {
				return nil, ctx.Err()
			}
			continue
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
		return nil, e.timeoutError()
	}
}

// timeoutError is the error of a caller that waited its fetch timeout.
func (e *entry) timeoutError() error {
	if s, ok := e.src.(interface{ timeoutError() error }); ok {
		return s.timeoutError()
	}
	return fmt.Errorf("secretsql: reading credentials from %s: %w", e.info.kind, context.DeadlineExceeded)
}

// noNewerError says that newer found no credentials other than those
// rejected; fetchErr is a read that failed while looking, if any.
type noNewerError struct{ fetchErr error }

func (e *noNewerError) Error() string {
	if e.fetchErr != nil {
		return "no newer credentials (reading the source failed: " + e.fetchErr.Error() + ")"
	}
	return "no newer credentials"
}

// newerQuery is what a reader asks newer for.
type newerQuery struct {
	failed *version        // the version the database rejected (or could not use)
	tried  map[string]bool // the versions this caller saw rejected, failed's included (nil: only failed)
	wait   bool            // wait out the minimum interval when the last forced read predates the rejection
	broken bool            // failed's value cannot be used (not a rejected login)
}

// newer finds credentials to try after the database rejected q.failed's:
// a version read meanwhile (no read), else a forced read of the source
// (which knows where to look: AWSPENDING, a changed file, a new token).
//
// Forced reads are shared by concurrent callers and made at most once per
// minimum interval of the source. A read made since the caller's first
// rejection answers for it: when the interval forbids a new one, newer goes
// on with that answer; when the last read is older (a rotation began
// since), it waits for the interval within ctx if q.wait.
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
		if v := e.cur; v != nil && v.id != q.failed.id && !q.tried[v.id] && v.usable(time.Now()) {
			return v
		}
		return nil
	}
	if v := fresh(); v != nil {
		e.mu.Unlock()
		return v, nil
	}
	// The source may hold a better credential already (Secrets Manager:
	// an AWSPENDING version read before).
	if st, ok := e.src.(steerer); ok && !q.broken {
		if f, ok := st.rejected(q.failed.id); ok {
			e.steer(f)
		}
		if v := fresh(); v != nil {
			e.mu.Unlock()
			return v, nil
		}
	}
	err := e.forcedRead(ctx, h, q.failed.id, since, q.wait, q.broken)
	if err != nil && (ctx.Err() != nil || errors.Is(err, ErrClosed)) {
		e.mu.Unlock()
		return nil, err
	}
	v := fresh()
	e.mu.Unlock()
	if v != nil {
		return v, nil
	}
	return nil, &noNewerError{fetchErr: err}
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
	if e.versions[v.id] != nil {
		e.marks[v.id] = m
		e.nmarks.Store(int32(len(e.marks)))
		e.publish()
	}
	return m.first
}

// forcedRead reads the source for a version newer than rejected, shares a
// forced read in flight, or lets the last one after a rejection of the same
// version answer when it was made since `since` or the minimum interval
// forbids another and !wait. e.mu
// must be held; it is released while waiting and reacquired. The error is
// the read's.
func (e *entry) forcedRead(ctx context.Context, h *Handle, rejected string, since time.Time, wait, broken bool) error {
	for {
		if e.closedFor(h) {
			return ErrClosed
		}
		f := e.flights[forcedRead]
		if f == nil {
			last := e.forced[rejected]
			d := e.info.minInterval - time.Since(last)
			if d > 0 && (!wait || !last.Before(since)) {
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
			e.forced[rejected] = time.Now()
			f = e.startFlight(ctx, h, forcedRead, fetchRequest{rejected: rejected, fresh: true, broken: broken, since: since, wait: wait})
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

// accepted records that v logged in at a login that began at started: a
// rejection of v before started is forgotten (one after it is newer news
// than this login's), and the source hears of the first login of each
// version and of logins after rejections. It returns the source's events,
// for the caller to deliver outside the lock.
func (e *entry) accepted(v *version, started time.Time) []Event {
	if e.nmarks.Load() == 0 && v.loggedIn.Load() {
		return nil // the common case, without the lock
	}
	e.mu.Lock()
	m, marked := e.marks[v.id]
	if marked && m.last.Before(started) {
		delete(e.marks, v.id)
		e.nmarks.Store(int32(len(e.marks)))
	}
	first := !v.loggedIn.Swap(true)
	e.mu.Unlock()
	a, ok := e.src.(acceptor)
	if !ok || !(first || marked) {
		return nil
	}
	evs, f, changed := a.accepted(v.f, started)
	if changed {
		e.mu.Lock()
		e.steer(f)
		e.mu.Unlock()
	}
	return evs
}

// steer makes f, which the source chose among what it holds, the version
// in use (the one handed out before if it was). e.mu must be held.
func (e *entry) steer(f fetched) {
	if e.cur != nil && e.cur.id == f.cred.Version {
		return
	}
	v := e.versions[f.cred.Version]
	if v == nil {
		v = newVersion(f)
	}
	e.keep(v)
	e.armRefresh()
	e.publish()
}

// keep makes v the version in use and remembers it, forgetting the oldest
// other versions (and what was recorded of them) beyond maxVersions. e.mu
// must be held.
func (e *entry) keep(v *version) {
	if old := e.versions[v.id]; old != nil && old != v {
		v.loggedIn = old.loggedIn
		if old.f.cred.Expiry.Equal(v.f.cred.Expiry) && !old.until.IsZero() {
			v.until, v.reread = old.until, true // its usable life does not start again
		}
	}
	if e.cur != nil && e.cur.id != v.id {
		// A version put back into use gets a fresh start: its rejections
		// in an earlier round must not make reads made since then answer
		// for a rejection that is yet to come (two rounds would otherwise
		// leave connects alternating between rejected versions, reading
		// nothing).
		delete(e.marks, v.id)
	}
	e.cur = v
	e.versions[v.id] = v
	for len(e.versions) > maxVersions {
		var oldest *version
		for _, o := range e.versions {
			if o != e.cur && (oldest == nil || o.fetchedAt.Before(oldest.fetchedAt)) {
				oldest = o
			}
		}
		delete(e.versions, oldest.id)
		delete(e.marks, oldest.id)
		delete(e.forced, oldest.id)
	}
	e.nmarks.Store(int32(len(e.marks)))
}

// maxVersions bounds the versions an entry remembers: during a rotation at
// most the old, the pending and the new one are in use.
const maxVersions = 4

// refresh reads the source now (or shares a read in flight).
func (e *entry) refresh(ctx context.Context, h *Handle) error {
	e.mu.Lock()
	if e.closedFor(h) {
		e.mu.Unlock()
		return ErrClosed
	}
	f := e.flights[plainRead]
	if f == nil || f.background {
		f = e.startFlight(ctx, h, plainRead, fetchRequest{fresh: true})
	}
	e.mu.Unlock()
	_, err := e.wait(ctx, h, f)
	return err
}

// startFlight starts one read for h, on behalf of the caller whose context
// is ctx (a background refresh is on behalf of nobody). e.mu must be held.
func (e *entry) startFlight(ctx context.Context, h *Handle, kind int, r fetchRequest) *flight {
	f := &flight{done: make(chan struct{}), starter: h, background: r.background, backoff: h.set.minRefresh}
	if !r.background {
		f.caller = ctx
	}
	for _, rd := range e.life.readers {
		f.timeout = max(f.timeout, rd.set.fetchTimeout)
	}
	e.flights[kind] = f
	e.publish()
	e.cache.work.Add(1)
	go e.run(e.life.ctx, f, kind, r)
	return f
}

// run makes the read of f. It runs for every waiter, so it uses the
// entry's context (cancelled only when the entry goes idle or shuts),
// bounded by the longest fetch timeout of the entry's readers — never a
// caller's context.
func (e *entry) run(ctx context.Context, f *flight, kind int, r fetchRequest) {
	var (
		evMu sync.Mutex
		evs  []Event
	)
	r.report = func(ev Event) {
		ev.Context = f.caller
		evMu.Lock()
		evs = append(evs, ev)
		evMu.Unlock()
	}
	rctx, cancel := context.WithTimeout(ctx, f.timeout)
	ft, err := e.src.fetch(rctx, r)
	cancel()
	evMu.Lock()
	out := evs
	evs = nil
	evMu.Unlock()
	var v *version
	switch {
	case ctx.Err() != nil:
		err, out = ErrClosed, nil
	case err == nil:
		v = newVersion(ft)
	}

	e.mu.Lock()
	if e.flights[kind] == f {
		e.flights[kind] = nil
	}
	out = append(out, e.settle(f, v, err)...)
	e.publish()
	f.v, f.err = v, err
	if v != nil {
		f.v = e.cur // a re-read of the version in use keeps its state
	}
	e.mu.Unlock()
	e.cache.work.Done()
	// The reader that started the read hears of it (once, however many
	// share it) before its waiters use it: outside every lock and after
	// Done, so that even Cache.Close may be called from an observer.
	f.starter.emit(out...)
	close(f.done)
}

// settle updates the entry with the result of a read. e.mu must be held.
func (e *entry) settle(f *flight, v *version, err error) []Event {
	now := time.Now()
	if err == nil {
		e.keep(v)
		e.cold = coldState{}
		e.sched.fails, e.sched.next = 0, time.Time{}
		e.armRefresh()
		return nil
	}
	closed := errors.Is(err, ErrClosed)
	if (e.cur == nil || !e.cur.usable(now)) && !f.background && !closed {
		e.cold.fails++
		e.cold.err, e.cold.timeout = err, f.timeout
		e.cold.until = now.Add(backoff(f.backoff, e.cold.fails, 30*time.Second))
	}
	if !f.background || closed {
		return nil
	}
	e.sched.fails++
	e.sched.next = now.Add(backoff(f.backoff, e.sched.fails, 5*time.Minute))
	e.armRefresh()
	var ev Event
	ev.Kind, ev.Err = EventStaleServed, err
	if e.cur != nil {
		ev.Stage, ev.VersionID = e.cur.f.stage, e.cur.id
	}
	return []Event{ev}
}

// newVersion makes a version of what a source handed out.
func newVersion(f fetched) *version {
	now := time.Now()
	return &version{
		id:        f.cred.Version,
		f:         f,
		fetchedAt: now,
		until:     credential.UsableUntil(f.cred, now),
		jitter:    0.9 + rand.Float64()/10,
		loggedIn:  new(atomic.Bool),
	}
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
