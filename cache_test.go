package secretsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secretsql/secretsql/engine"
	"github.com/secretsql/secretsql/smtest"
)

// fakeSource is a secret store in memory behind the source seam: versions
// by id, labels pointing at them, programmable failures and a gate that
// holds reads.
type fakeSource struct {
	who any

	mu       sync.Mutex
	values   map[string]string // VersionId → value
	labels   map[string]string // label → VersionId
	calls    map[string]int    // reads by label
	failures map[string]error  // label → error of every read of it
	gate     chan struct{}     // if set, reads wait for it (or their context)
	seq      int
}

var _ secretReader = (*fakeSource)(nil)

func newFakeSource(who any) *fakeSource {
	return &fakeSource{who: who, values: map[string]string{}, labels: map[string]string{}, calls: map[string]int{}, failures: map[string]error{}}
}

func (s *fakeSource) identity() any        { return s.who }
func (s *fakeSource) describe() sourceInfo { return sourceInfo{region: "fake-1"} }

func (s *fakeSource) read(ctx context.Context, r readRequest) (sourceValue, error) {
	s.mu.Lock()
	s.calls[r.stage]++
	gate, fail := s.gate, s.failures[r.stage]
	id, ok := s.labels[r.stage]
	value := s.values[id]
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return sourceValue{}, classifyFetchError(r.secretID, r.stage, ctx.Err())
		}
	}
	switch {
	case fail != nil:
		return sourceValue{}, fail
	case !ok:
		return sourceValue{}, &FetchError{SecretID: r.secretID, Stage: r.stage, Kind: ErrSecretNotFound, Err: errors.New("no such label")}
	}
	return sourceValue{arn: "arn:fake:" + r.secretID, versionID: id, value: []byte(value)}, nil
}

// put stores a new version with the labels given, moving them from other
// versions.
func (s *fakeSource) put(value string, labels ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("v%d", s.seq)
	s.values[id] = value
	for _, l := range labels {
		s.labels[l] = id
	}
	return id
}

func (s *fakeSource) reads(label string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[label]
}

func (s *fakeSource) fail(label string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.failures, label)
		return
	}
	s.failures[label] = err
}

// cacheBed is a Cache with Connectors of a testEngine reading fake sources.
type cacheBed struct {
	t     *testing.T
	cache *Cache
	db    *fakeServer
	eng   testEngine
}

func newCacheBed(t *testing.T) *cacheBed {
	b := &cacheBed{t: t, cache: NewCache(), db: newFakeServer()}
	b.eng = testEngine{name: "fake", srv: b.db}
	b.db.setPassword("app", "pw1")
	t.Cleanup(func() { b.cache.Close() })
	return b
}

// connector opens a Connector on secret "s" of src.
func (b *cacheBed) connector(src secretReader, opts ...Option) *Connector {
	b.t.Helper()
	c, err := b.open(src, "s", opts...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close() })
	return c
}

func (b *cacheBed) open(src secretReader, dsn string, opts ...Option) (*Connector, error) {
	d, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig(append([]Option{WithCache(b.cache)}, opts...))
	if err != nil {
		return nil, err
	}
	prepared, err := b.eng.Prepare(d.params)
	if err != nil {
		return nil, err
	}
	h, err := attachHandle(b.eng, &d, &cfg, smSourceFor(&d, &cfg, src))
	if err != nil {
		return nil, err
	}
	return &Connector{engine: b.eng, drv: &secretsqlDriver{engine: b.eng}, native: prepared, h: h}, nil
}

func fakeSecret(pw string) string { return secretJSON("app", pw) }

// TestIdentityScopesEntries: Connectors share reads only when their sources
// have the same identity.
func TestIdentityScopesEntries(t *testing.T) {
	b := newCacheBed(t)
	alice, bob := newFakeSource("alice"), newFakeSource("bob")
	alice.put(fakeSecret("pw1"), StageCurrent)
	bob.put(fakeSecret("pw1"), StageCurrent)
	a1, a2, b1 := b.connector(alice), b.connector(alice), b.connector(bob)
	for _, c := range []*Connector{a1, a2, b1, a1} {
		connectAs(b.t, c, "pw1")
	}
	if alice.reads(StageCurrent) != 1 || bob.reads(StageCurrent) != 1 {
		t.Fatalf("reads: alice %d, bob %d; want one each", alice.reads(StageCurrent), bob.reads(StageCurrent))
	}
}

// TestDeniedIdentityNeverServed is the cross-identity leak of issue 10
// against the emulator, both ways round: a Connector whose AWS credentials
// Secrets Manager rejects gets an error while another Connector of the
// process holds the value, and opened first it does not fail the
// authorized one.
func TestDeniedIdentityNeverServed(t *testing.T) {
	sm := smtest.NewServer()
	defer sm.Close()
	f := &fixture{t: t, sm: sm, db: newFakeServer(), eng: testEngine{name: "fake"}}
	f.eng.srv = f.db
	f.db.setPassword("app", "pw1")
	sm.CreateSecret("tenant/db", secretJSON("app", "pw1"))
	good := sm.Config()
	bad := sm.Config()
	bad.Credentials = credentials.NewStaticCredentialsProvider(smtest.DefaultAccessKeyID, "not-the-secret-key", "")
	var badEvents atomic.Int64
	for _, order := range []string{"authorized first", "denied first"} {
		t.Run(order, func(t *testing.T) {
			cache := NewCache()
			defer cache.Close()
			open := func(cfg aws.Config, opts ...Option) *Connector {
				c, err := openConnector(f.eng, "tenant/db", append([]Option{WithAWSConfig(cfg), WithCache(cache)}, opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			connect := func(c *Connector) error { _, err := c.Connect(context.Background()); return err }
			var authorized, denied *Connector
			if order == "authorized first" {
				authorized = open(good)
				if err := connect(authorized); err != nil {
					t.Fatal(err)
				}
				denied = open(bad, WithObserver(func(Event) { badEvents.Add(1) }))
			} else {
				denied = open(bad)
				for range 3 {
					if err := connect(denied); err == nil {
						t.Fatal("the denied Connector connected")
					}
				}
				authorized = open(good)
			}
			for range 5 {
				err := connect(denied)
				var fe *FetchError
				if !errors.As(err, &fe) || fe.Code != "InvalidSignatureException" {
					t.Fatalf("denied Connector: %v, want its own InvalidSignatureException", err)
				}
				if err := connect(authorized); err != nil {
					t.Fatalf("authorized Connector: %v", err)
				}
			}
		})
	}
	if badEvents.Load() == 0 {
		t.Error("the denied Connector's observer saw none of its own failed reads")
	}
}

// TestShortFetchTimeoutDoesNotPoison: a Connector with a 1 ms fetch timeout
// fails on its own. Alone on the secret, its read fails and a Connector
// with the default timeout opened afterwards reads again rather than take
// that failure; sharing the secret with such a Connector, its read runs with
// the longer timeout and serves both.
func TestShortFetchTimeoutDoesNotPoison(t *testing.T) {
	for _, tc := range []struct {
		name         string
		patientFirst bool
		reads        int
	}{
		{"alone", false, 2},
		{"shared", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newCacheBed(t)
			src := newFakeSource("same")
			src.put(fakeSecret("pw1"), StageCurrent)
			src.gate = make(chan struct{})
			var patient *Connector
			if tc.patientFirst {
				patient = b.connector(src)
			}
			hasty := b.connector(src, WithFetchTimeout(time.Millisecond))
			if _, err := hasty.Connect(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("1 ms fetch timeout: %v, want DeadlineExceeded", err)
			}
			if tc.patientFirst {
				// The read outlives the hasty caller's 1 ms: it runs with
				// the patient's timeout, held at the gate meanwhile.
				time.Sleep(20 * time.Millisecond)
				if !hasty.h.e.inFlight() {
					t.Fatal("the shared read ended with the hasty caller's timeout")
				}
			}
			if patient == nil {
				// Once the hasty read has failed (its 1 ms is over).
				for hasty.h.e.inFlight() {
					time.Sleep(time.Millisecond)
				}
				patient = b.connector(src)
			}
			done := make(chan error, 1)
			go func() { _, err := patient.Connect(context.Background()); done <- err }()
			close(src.gate)
			if err := <-done; err != nil {
				t.Fatalf("patient Connector: %v", err)
			}
			if _, err := hasty.Connect(context.Background()); err != nil {
				t.Fatalf("hasty Connector once the value is cached: %v", err)
			}
			if n := src.reads(StageCurrent); n != tc.reads {
				t.Errorf("%d reads, want %d", n, tc.reads)
			}
		})
	}
}

// TestOpenCloseRepeatedReadsOnce is issue 10's per-request pattern through
// sql.Open and the SDK's default chain: 50 × (sql.Open, Ping, Close) of
// one secret make one GetSecretValue call.
func TestOpenCloseRepeatedReadsOnce(t *testing.T) {
	sm := smtest.NewServer()
	defer sm.Close()
	registerOnce.Do(func() { engine.Register(testEngine{name: "cachetest", srv: cacheTestServer}) })
	cacheTestServer.setPassword("app", "pw1")
	sm.CreateSecret("per/request", secretJSON("app", "pw1"))
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": smtest.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY": smtest.DefaultSecretAccessKey,
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1",
	} {
		t.Setenv(k, v)
	}
	dsn := "per/request?region=" + sm.Region + "&endpoint=" + sm.URL
	for i := range 50 {
		db, err := sql.Open("secretsmanager-cachetest", dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Ping(); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		db.Close()
	}
	if n := sm.Calls(get); n != 1 {
		t.Fatalf("50 × (Open, Ping, Close): %d GetSecretValue calls, want 1", n)
	}
	t.Logf("50 × (sql.Open, Ping, Close): %d GetSecretValue call", sm.Calls(get))
}

var (
	registerOnce    sync.Once
	cacheTestServer = newFakeServer()
)

// TestIdleEntriesEvicted: an entry without readers is evicted after its
// grace period (the refresh interval), and at most maxIdleEntries are kept.
func TestIdleEntriesEvicted(t *testing.T) {
	b := newCacheBed(t)
	src := newFakeSource("x")
	src.put(fakeSecret("pw1"), StageCurrent)
	c, err := b.open(src, "short?ttl=1s")
	if err != nil {
		t.Fatal(err)
	}
	connectAs(b.t, c, "pw1")
	c.Close()
	if n := b.entries(); n != 1 {
		t.Fatalf("%d entries right after Close, want 1 (kept for the grace period)", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.entries() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := b.entries(); n != 0 {
		t.Fatalf("%d entries 5 s after a 1 s grace period, want 0", n)
	}
	for i := range maxIdleEntries + 44 {
		c, err := b.open(src, fmt.Sprintf("many-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if n := b.entries(); n != maxIdleEntries {
		t.Fatalf("%d idle entries, want at most %d", n, maxIdleEntries)
	}
}

func (b *cacheBed) entries() int {
	b.cache.mu.Lock()
	defer b.cache.mu.Unlock()
	return len(b.cache.entries)
}

// TestPendingRules drives the AWSPENDING rules through the states a
// rotation leaves a secret in.
func TestPendingRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(src *fakeSource, db *fakeServer) (password string)
		reads map[string]int // after the first connect, by label
	}{
		{"window: AWSPENDING set, AWSCURRENT old", func(src *fakeSource, db *fakeServer) string {
			src.put(fakeSecret("pw2"), StagePending)
			db.setPassword("app", "pw2")
			return "pw2"
		}, map[string]int{StagePending: 1, StageCurrent: 0}},
		{"finished, AWSPENDING left on the AWSCURRENT version", func(src *fakeSource, db *fakeServer) string {
			src.put(fakeSecret("pw2"), StagePending, StageCurrent)
			db.setPassword("app", "pw2")
			return "pw2"
		}, map[string]int{StagePending: 1, StageCurrent: 0}},
		{"finished, AWSPENDING removed", func(src *fakeSource, db *fakeServer) string {
			src.put(fakeSecret("pw2"), StageCurrent)
			db.setPassword("app", "pw2")
			return "pw2"
		}, map[string]int{StagePending: 1, StageCurrent: 1}},
		{"failed rotation: AWSPENDING never set, no rejection", func(src *fakeSource, db *fakeServer) string {
			src.put(fakeSecret("never-set"), StagePending)
			return "pw1"
		}, map[string]int{StagePending: 0, StageCurrent: 0}},
		{"AWSPENDING never set, password changed by hand", func(src *fakeSource, db *fakeServer) string {
			src.put(fakeSecret("never-set"), StagePending)
			src.put(fakeSecret("pw3"), StageCurrent)
			db.setPassword("app", "pw3")
			return "pw3"
		}, map[string]int{StagePending: 1, StageCurrent: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newCacheBed(t)
			src := newFakeSource(t.Name())
			src.put(fakeSecret("pw1"), StageCurrent)
			c := b.connector(src)
			connectAs(b.t, c, "pw1")
			pw := tc.setup(src, b.db)
			for range 3 {
				connectAs(b.t, c, pw)
			}
			for label, want := range tc.reads {
				first := 0
				if label == StageCurrent {
					first = 1
				}
				if got := src.reads(label) - first; got != want {
					t.Errorf("%s read %d times, want %d", label, got, want)
				}
			}
		})
	}
}

// TestPendingNeverSetAfterFalseRejection: a Handle told (wrongly) that
// AWSCURRENT was rejected tries an AWSPENDING version whose password was
// never set, which the database rejects; connects go back to AWSCURRENT.
func TestPendingNeverSetAfterFalseRejection(t *testing.T) {
	b := newCacheBed(t)
	src := newFakeSource("x")
	cur := src.put(fakeSecret("pw1"), StageCurrent)
	src.put(fakeSecret("never-set"), StagePending)
	c := b.connector(src)
	connectAs(b.t, c, "pw1")
	if r, err := c.h.Rejected(context.Background(), cur, 1); err != nil || r.Credentials.Password() != "never-set" {
		t.Fatalf("after a rejection of AWSCURRENT: %v, %v; want the AWSPENDING version", r.VersionID, err)
	}
	for range 3 {
		connectAs(b.t, c, "pw1")
	}
}

// TestCloseDuringFetch: closing the only Connector while its first read
// hangs ends the read and the waiting connect with ErrClosed, and leaves
// no goroutine of the cache behind.
func TestCloseDuringFetch(t *testing.T) {
	b := newCacheBed(t)
	src := newFakeSource("x")
	src.put(fakeSecret("pw1"), StageCurrent)
	src.gate = make(chan struct{}) // never opened: the read hangs until cancelled
	c, err := b.open(src, "s")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Connect(context.Background()); done <- err }()
	for src.reads(StageCurrent) == 0 {
		time.Sleep(time.Millisecond)
	}
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("connect waiting on the read: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connect waiting on the read did not return after Close")
	}
	waitNoGoroutines(t, "secretsql.(*entry).run")
}

// TestCloseFromObserver: an observer may close its Connector, and another
// Cache, while an event is delivered; nothing deadlocks.
func TestCloseFromObserver(t *testing.T) {
	b := newCacheBed(t)
	src := newFakeSource("x")
	src.put(fakeSecret("pw1"), StageCurrent)
	var c *Connector
	closed := make(chan struct{})
	other := NewCache()
	c = b.connector(src, WithObserver(func(e Event) {
		if e.Kind == EventFetch {
			c.Close()
			b.cache.Close()
			other.Close()
			close(closed)
		}
	}))
	done := make(chan error, 1)
	go func() { _, err := c.Connect(context.Background()); done <- err }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the observer's Close did not return")
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Connect did not return after its observer closed the Connector")
	}
	if _, err := c.Connect(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("connect after Close: %v", err)
	}
}

// TestBackgroundRefreshAndStaleOnError through the fake source: a value
// older than the refresh interval is served at once while one background
// read runs; when that read fails the cached value stays in use.
func TestBackgroundRefreshAndStaleOnError(t *testing.T) {
	b := newCacheBed(t)
	src := newFakeSource("x")
	src.put(fakeSecret("pw1"), StageCurrent)
	var stale atomic.Int64
	c, err := b.open(src, "s?ttl=1s", WithMinRefreshInterval(10*time.Millisecond), WithObserver(func(e Event) {
		if e.Kind == EventStaleServed {
			stale.Add(1)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connectAs(b.t, c, "pw1")
	src.fail(StageCurrent, &FetchError{Kind: ErrThrottled, Stage: StageCurrent, Err: errors.New("slow down")})
	time.Sleep(1100 * time.Millisecond)
	for i := 0; stale.Load() == 0; i++ {
		if i > 200 {
			t.Fatal("no stale-served event after the refresh interval")
		}
		connectAs(b.t, c, "pw1")
		time.Sleep(10 * time.Millisecond)
	}
	src.fail(StageCurrent, nil)
	src.put(secretJSON("app2", "pwX"), StageCurrent)
	b.db.setPassword("app2", "pwX")
	awaitUser(t, c, "app2", 5*time.Second)
}

// TestRefresh: Connector.Refresh reads the secret now.
func TestRefresh(t *testing.T) {
	b := newCacheBed(t)
	src := newFakeSource("x")
	src.put(fakeSecret("pw1"), StageCurrent)
	c := b.connector(src)
	connectAs(b.t, c, "pw1")
	src.put(fakeSecret("pw2"), StageCurrent)
	b.db.setPassword("app", "pw2")
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if src.reads(StageCurrent) != 2 {
		t.Fatalf("%d reads, want 2", src.reads(StageCurrent))
	}
	connectAs(b.t, c, "pw2")
	src.fail(StageCurrent, &FetchError{Kind: ErrAccessDenied, Stage: StageCurrent, Err: errors.New("denied")})
	if err := c.Refresh(context.Background()); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("failed refresh: %v", err)
	}
	connectAs(b.t, c, "pw2") // the cached value stays
}

// TestNilOption: a nil Option is an error, not a panic.
func TestNilOption(t *testing.T) {
	_, err := NewConnector("nosuch", "db", nil)
	if !errors.Is(err, ErrUnknownEngine) {
		t.Fatalf("unknown engine first: %v", err)
	}
	b := newCacheBed(t)
	if _, err := b.open(newFakeSource("x"), "s", WithRetry(2, 0), nil); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("nil option: %v, want ErrInvalidOption", err)
	}
}

// waitNoGoroutines waits up to 2 s for the goroutines running frame to end.
func waitNoGoroutines(t *testing.T, frame string) {
	t.Helper()
	var stacks string
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, frame) {
			return
		}
	}
	t.Fatalf("goroutines running %s remain:\n%s", frame, stacks)
}

// inFlight reports whether a plain read is in flight.
func (e *entry) inFlight() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.flights[plainRead] != nil
}

// TestSharedReadReportedOnce: an observer shared by three Connectors of one
// secret hears of each read once (from the Connector that made it), and of
// an AWSPENDING adoption once, so metrics count GetSecretValue calls.
func TestSharedReadReportedOnce(t *testing.T) {
	b := newCacheBed(t)
	src := newFakeSource("same")
	src.put(fakeSecret("pw1"), StageCurrent)
	var fetches, adoptions atomic.Int64
	obs := WithObserver(func(ev Event) {
		switch ev.Kind {
		case EventFetch:
			fetches.Add(1)
		case EventPendingAdopted:
			adoptions.Add(1)
		}
	})
	cs := []*Connector{b.connector(src, obs), b.connector(src, obs), b.connector(src, obs)}
	for _, c := range cs {
		connectAs(t, c, "pw1")
		if err := c.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	b.db.setPassword("app", "pw2") // a rotation's setSecret
	src.put(fakeSecret("pw2"), StagePending)
	for _, c := range cs {
		connectAs(t, c, "pw2")
	}
	reads := src.reads(StageCurrent) + src.reads(StagePending)
	if n := fetches.Load(); n != int64(reads) {
		t.Errorf("%d read events for %d reads", n, reads)
	}
	if n := adoptions.Load(); n != 1 {
		t.Errorf("%d adoption events, want 1", n)
	}
}
