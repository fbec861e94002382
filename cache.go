package secretsql

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

// The process-wide cache: one entry per (endpoint, region, secret, stage),
// shared by every Connector (and so every sql.DB) that reads it. An entry
// lives while a Connector holds it.

type cacheKey struct {
	endpoint string // "" for the SDK's default endpoint
	client   any    // for clients other than *secretsmanager.Client: their identity (comparable)
	region   string
	secretID string
	stage    string
}

var (
	cacheMu sync.Mutex
	cache   = map[cacheKey]*entry{}
)

// version is one fetched secret value. It is immutable once published,
// but for failedAt.
type version struct {
	id        string
	arn       string
	stage     string // the label it was fetched by
	value     secretValue
	err       error // the value cannot be parsed (a *SecretError)
	fetchedAt time.Time
	jitter    float64 // refresh after jitter × the refresh interval, 0.9 ≤ jitter < 1

	failedAt time.Time // when the database first rejected it; guarded by entry.mu
}

// flight is one GetSecretValue call that any number of callers wait on.
type flight struct {
	done chan struct{}
	v    *version
	err  error
}

type entry struct {
	key          cacheKey
	client       GetSecretValueAPI
	callOpts     []func(*secretsmanager.Options)
	fetchTimeout time.Duration
	refs         int // guarded by cacheMu

	ctx    context.Context // cancelled when the last holder lets go
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	cur         *version           // latest value of key.stage
	pending     *version           // AWSPENDING, adopted after it logged in …
	pendingBase string             // … while cur still has this VersionId
	flights     map[string]*flight // by stage
	lastForced  time.Time          // last fetch of key.stage after an auth failure
	lastPendAt  time.Time          // last fetch of AWSPENDING
	lastPending *version           // its result (nil: none)
	lastPendEnd time.Time          // when that fetch ended
	refreshing  bool               // a background refresh runs
	refreshFail int                // consecutive failed background refreshes
	nextRefresh time.Time          // no background refresh before
	coldErr     error              // the last failed first fetch …
	coldUntil   time.Time          // … returned to callers until then
	coldFail    int
}

// acquire returns the shared entry for key, creating it with the given
// client if it does not exist yet.
func acquire(key cacheKey, client GetSecretValueAPI, callOpts []func(*secretsmanager.Options), fetchTimeout time.Duration) *entry {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	e := cache[key]
	if e == nil {
		ctx, cancel := context.WithCancel(context.Background())
		e = &entry{key: key, client: client, callOpts: callOpts, fetchTimeout: fetchTimeout,
			ctx: ctx, cancel: cancel, flights: map[string]*flight{}}
		cache[key] = e
	}
	e.refs++
	return e
}

// release drops one hold on e; the last one stops its background work and
// waits for it to end.
func (e *entry) release() {
	cacheMu.Lock()
	e.refs--
	last := e.refs == 0
	if last && cache[e.key] == e {
		delete(cache, e.key)
	}
	cacheMu.Unlock()
	if !last {
		return
	}
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
}

// effective is the version connects should use. e.mu must be held.
func (e *entry) effective() *version {
	if e.pending != nil && e.cur != nil && e.cur.id == e.pendingBase {
		return e.pending
	}
	return e.cur
}

// get returns the version to connect with: the cached one at once (starting
// one background refresh when it is older than ttl), or the result of the
// first fetch, coalesced across callers.
func (e *entry) get(ctx context.Context, ttl, minBackoff time.Duration, notify func(Event)) (*version, error) {
	e.mu.Lock()
	if v := e.effective(); v != nil {
		now := time.Now()
		if !e.refreshing && e.flights[e.key.stage] == nil && !e.closed &&
			now.Sub(e.cur.fetchedAt) >= time.Duration(float64(ttl)*e.cur.jitter) && !now.Before(e.nextRefresh) {
			e.refreshing = true
			e.wg.Add(1)
			go e.refresh(ttl, minBackoff, notify)
		}
		e.mu.Unlock()
		return v, nil
	}
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	if e.coldErr != nil && time.Now().Before(e.coldUntil) {
		err := e.coldErr
		e.mu.Unlock()
		return nil, err
	}
	f := e.flights[e.key.stage]
	if f == nil {
		f = e.startFlight(e.key.stage, notify, func(err error) {
			// Called with e.mu held when the first fetch failed: answer
			// the callers of the next moments with the same error.
			e.coldFail++
			e.coldErr = err
			e.coldUntil = time.Now().Add(backoff(minBackoff, e.coldFail, 30*time.Second))
		})
	}
	e.mu.Unlock()
	return wait(ctx, f)
}

// refresh runs one background refresh; on failure the cached value stays in
// use and the next refresh backs off.
func (e *entry) refresh(ttl, minBackoff time.Duration, notify func(Event)) {
	defer e.wg.Done()
	e.mu.Lock()
	f := e.flights[e.key.stage]
	if f == nil && !e.closed {
		f = e.startFlight(e.key.stage, notify, nil)
	}
	e.mu.Unlock()
	var err error = ErrClosed
	if f != nil {
		<-f.done
		err = f.err
	}
	e.mu.Lock()
	e.refreshing = false
	if err != nil {
		e.refreshFail++
		e.nextRefresh = time.Now().Add(backoff(minBackoff, e.refreshFail, min(ttl, 5*time.Minute)))
	} else {
		e.refreshFail = 0
	}
	var id string
	if e.cur != nil {
		id = e.cur.id
	}
	e.mu.Unlock()
	if err != nil && !errors.Is(err, ErrClosed) && e.ctx.Err() == nil {
		notify(Event{Kind: EventStaleServed, SecretID: e.key.secretID, Stage: e.key.stage, VersionID: id, Err: err})
	}
}

// errNothingNew: recover found no credentials other than those that failed.
var errNothingNew = errors.New("no newer credentials")

// recover finds credentials to try after the database rejected failed's:
//  1. a version another caller has fetched or adopted meanwhile (no call);
//  2. if pendingOK: AWSPENDING, coalesced, at most once per minInterval —
//     during a rotation's setSecret→finishSecret window it holds the
//     password the database now expects;
//  3. a forced fetch of the entry's stage, likewise.
//
// AWSPENDING comes first because a rotation moves AWSCURRENT before it takes
// AWSPENDING off: if AWSPENDING is gone, a later read of AWSCURRENT sees the
// new version. In the other order finishSecret can fall between the reads,
// which then both miss the new version.
//
// A fetch made since failed was first rejected (and, for step 3, since the
// AWSPENDING answer used) answers for it: when the interval forbids a new
// one, recover goes on with that answer. When the last fetch is older (a
// rotation began since) and mayWait, it waits for the interval within ctx
// and fetches.
//
// tried holds the versions the caller has seen rejected (nil: only failed).
//
// It returns errNothingNew when none differs from failed, and the fetch error
// of step 3 (or of step 2, unless AWSPENDING does not exist) alongside when
// there was one.
func (e *entry) recover(ctx context.Context, failed *version, tried map[string]bool, pendingOK, mayWait bool, minInterval time.Duration, notify func(Event)) (*version, error, error) {
	e.mu.Lock()
	if failed.failedAt.IsZero() {
		failed.failedAt = time.Now()
	}
	if v := e.effective(); v != nil && v.id != failed.id {
		e.mu.Unlock()
		return v, nil, nil
	}
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed, nil
	}
	since := failed.failedAt
	var pendErr error
	if pendingOK {
		pf, err := e.forcedFlight(ctx, StagePending, &e.lastPendAt, since, mayWait, minInterval, notify)
		pv := e.lastPending
		e.mu.Unlock()
		if err != nil {
			return nil, err, nil
		}
		if pf != nil {
			v, err := wait(ctx, pf)
			if ctx.Err() != nil {
				return nil, ctx.Err(), nil
			}
			pv = v
			if err != nil {
				pv = nil
				var nf *types.ResourceNotFoundException
				if !errors.As(err, &nf) {
					pendErr = err
				}
			}
		}
		e.mu.Lock()
		if v := e.effective(); v != nil && v.id != failed.id { // fetched or adopted meanwhile
			e.mu.Unlock()
			return v, nil, nil
		}
		// An AWSPENDING version this caller has seen rejected already (one
		// left by a failed rotation) must not hide a new AWSCURRENT.
		if pv != nil && pv.id != failed.id && (e.cur == nil || pv.id != e.cur.id) && !tried[pv.id] {
			e.mu.Unlock()
			return pv, nil, nil
		}
		// AWSCURRENT must be read after that AWSPENDING answer came back.
		if e.lastPendEnd.After(since) {
			since = e.lastPendEnd
		}
	}
	f, err := e.forcedFlight(ctx, e.key.stage, &e.lastForced, since, mayWait, minInterval, notify)
	e.mu.Unlock()
	if err != nil {
		return nil, err, nil
	}
	if f != nil {
		v, err := wait(ctx, f)
		if ctx.Err() != nil {
			return nil, ctx.Err(), nil
		}
		if err != nil {
			return nil, errNothingNew, err
		}
		if v.id != failed.id {
			return v, nil, nil
		}
	}
	return nil, errNothingNew, pendErr
}

// forcedFlight returns the flight to wait on for a forced fetch of stage, or
// nil when the last one (at *last) was made since `since` and so answers for
// it, or is too recent and !mayWait. e.mu must be held; it is released while
// waiting for the interval.
func (e *entry) forcedFlight(ctx context.Context, stage string, last *time.Time, since time.Time, mayWait bool, minInterval time.Duration, notify func(Event)) (*flight, error) {
	for {
		if e.closed {
			return nil, ErrClosed
		}
		if f := e.flights[stage]; f != nil {
			return f, nil
		}
		wait := minInterval - time.Since(*last)
		if wait <= 0 {
			*last = time.Now()
			return e.startFlight(stage, notify, nil), nil
		}
		if !mayWait || !last.Before(since) {
			return nil, nil // fetched since: that answer stands
		}
		e.mu.Unlock()
		ok := sleep(ctx, wait)
		e.mu.Lock()
		if !ok {
			return nil, ctx.Err()
		}
	}
}

// adoptPending makes an AWSPENDING version that logged in the one to use
// until AWSCURRENT changes. It reports whether it was newly adopted.
func (e *entry) adoptPending(v *version) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil || e.cur.id == v.id || (e.pending != nil && e.pending.id == v.id && e.pendingBase == e.cur.id) {
		return false
	}
	e.pending, e.pendingBase = v, e.cur.id
	return true
}

// startFlight starts one GetSecretValue call for stage. e.mu must be held.
// onColdErr, if set, runs under e.mu when the call fails and no value of
// the entry's stage has been cached yet.
func (e *entry) startFlight(stage string, notify func(Event), onColdErr func(error)) *flight {
	f := &flight{done: make(chan struct{})}
	e.flights[stage] = f
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		v, err := e.fetch(stage, notify)
		e.mu.Lock()
		delete(e.flights, stage)
		switch {
		case err == nil && stage == e.key.stage:
			if e.cur != nil && e.cur.id == v.id {
				v.failedAt = e.cur.failedAt // the same version, fetched again
			}
			e.cur = v
			e.coldErr, e.coldFail = nil, 0
		case stage == StagePending && stage != e.key.stage:
			e.lastPendEnd = time.Now()
			if v != nil && e.lastPending != nil && e.lastPending.id == v.id {
				v.failedAt = e.lastPending.failedAt
			}
			e.lastPending = v
		case err != nil && stage == e.key.stage && e.cur == nil && onColdErr != nil && e.ctx.Err() == nil:
			onColdErr(err)
		}
		f.v, f.err = v, err
		e.mu.Unlock()
		close(f.done)
	}()
	return f
}

// fetch makes one GetSecretValue call. It runs for every waiter, so it uses
// the entry's context (cancelled only when the entry is dropped), bounded by
// the fetch timeout — never a caller's context.
func (e *entry) fetch(stage string, notify func(Event)) (*version, error) {
	ctx, cancel := context.WithTimeout(e.ctx, e.fetchTimeout)
	defer cancel()
	start := time.Now()
	out, err := e.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(e.key.secretID),
		VersionStage: aws.String(stage),
	}, e.callOpts...)
	took := time.Since(start)
	if err != nil {
		if e.ctx.Err() != nil {
			err = ErrClosed
		} else {
			err = classifyFetchError(e.key.secretID, stage, err)
		}
		notify(Event{Kind: EventFetchFailed, SecretID: e.key.secretID, Stage: stage, Duration: took, Err: err})
		return nil, err
	}
	v := &version{
		id:        aws.ToString(out.VersionId),
		arn:       aws.ToString(out.ARN),
		stage:     stage,
		fetchedAt: time.Now(),
		jitter:    0.9 + rand.Float64()/10,
	}
	if v.arn == "" {
		v.arn = e.key.secretID
	}
	raw := []byte(aws.ToString(out.SecretString))
	if out.SecretString == nil {
		raw = out.SecretBinary
	}
	v.value, v.err = parseSecret(raw, v.arn, v.id)
	notify(Event{Kind: EventFetch, SecretID: e.key.secretID, Stage: stage, VersionID: v.id, Duration: took})
	return v, nil
}

// wait waits for f or for the caller's context, whichever ends first.
func wait(ctx context.Context, f *flight) (*version, error) {
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// classifyFetchError maps an SDK error to a *FetchError by its type and code.
func classifyFetchError(secretID, stage string, err error) error {
	fe := &FetchError{SecretID: secretID, Stage: stage, Kind: ErrSecretsManager, Err: err}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		fe.Code = ae.ErrorCode()
		switch fe.Code {
		case "ResourceNotFoundException":
			fe.Kind = ErrSecretNotFound
		case "AccessDeniedException", "AccessDenied":
			fe.Kind = ErrAccessDenied
		case "InvalidRequestException":
			fe.Kind = ErrSecretDeleted
		case "DecryptionFailure":
			fe.Kind = ErrDecryption
		case "ThrottlingException", "Throttling", "TooManyRequestsException":
			fe.Kind = ErrThrottled
		}
	}
	return fe
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
