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
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql/smtest"
)

const get = "GetSecretValue"

type fixture struct {
	t      *testing.T
	sm     *smtest.Server
	client *secretsmanager.Client // one client: Connectors given it share cached values
	cache  *Cache
	db     *fakeServer
	eng    testEngine
	arn    string
	name   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	sm := smtest.NewServer()
	t.Cleanup(sm.Close)
	f := &fixture{t: t, sm: sm, client: sm.Client(), cache: NewCache(), db: newFakeServer(), name: "app/" + strings.ReplaceAll(t.Name(), "/", "-")}
	t.Cleanup(func() { f.cache.Close() })
	f.eng = testEngine{name: "fake", srv: f.db}
	f.db.setPassword("app", "pw1")
	f.arn = sm.CreateSecret(f.name, secretJSON("app", "pw1"))
	return f
}

func secretJSON(user, pw string) string {
	return fmt.Sprintf(`{"engine":"postgres","host":"db.internal","port":5432,"username":%q,"password":%q,"dbname":"app"}`, user, pw)
}

func (f *fixture) connector(dsn string, opts ...Option) *Connector {
	f.t.Helper()
	opts = append([]Option{WithClient(f.client), WithCache(f.cache)}, opts...)
	c, err := openConnector(f.eng, dsn, opts...)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

// rotateStart does createSecret and setSecret: AWSPENDING holds the new
// password and the database accepts only it.
func (f *fixture) rotateStart(pw string) string {
	id := f.sm.PutSecretString(f.name, secretJSON("app", pw), StagePending)
	f.db.setPassword("app", pw)
	return id
}

// rotateFinish does finishSecret.
func (f *fixture) rotateFinish(id string) {
	f.t.Helper()
	cur := ""
	for v, stages := range f.sm.SecretVersions(f.name) {
		for _, s := range stages {
			if s == StageCurrent {
				cur = v
			}
		}
	}
	_, err := f.sm.Client().UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(f.name), VersionStage: aws.String(StageCurrent),
		MoveToVersionId: aws.String(id), RemoveFromVersionId: aws.String(cur),
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func TestColdConnectsCoalesce(t *testing.T) {
	f := newFixture(t)
	f.sm.SetLatency(get, 50*time.Millisecond)
	for _, id := range []string{f.name, f.arn, strings.TrimSuffix(f.arn, f.arn[len(f.arn)-7:])} {
		c := f.connector(id)
		f.sm.ResetCalls()
		var wg sync.WaitGroup
		var failed atomic.Int64
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := c.Connect(context.Background())
				if err != nil {
					failed.Add(1)
					t.Error(err)
					return
				}
				if fc := conn.(*fakeConn); fc.c.Host != "db.internal" || fc.c.Database != "app" {
					t.Errorf("credentials %v", fc.c)
				}
			}()
		}
		wg.Wait()
		if n := f.sm.Calls(get); n != 1 || failed.Load() != 0 {
			t.Fatalf("secret id %q: %d GetSecretValue calls, %d failures; want 1 and 0", id, n, failed.Load())
		}
	}
}

func TestCacheSharedAcrossConnectors(t *testing.T) {
	f := newFixture(t)
	a, b := f.connector(f.name), f.connector(f.name)
	for _, c := range []*Connector{a, b, a} {
		if _, err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.sm.Calls(get); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
	// A different stage is a different cache entry.
	if _, err := f.connector(f.name+"?stage=AWSCURRENT&ttl=2h", WithVersionStage("AWSPREVIOUS")).Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.sm.Calls(get); n != 1 {
		t.Fatalf("%d calls, want 1 (stage=AWSCURRENT in the DSN wins over the option)", n)
	}
}

func TestCancelledCallerDoesNotPoison(t *testing.T) {
	f := newFixture(t)
	c := f.connector(f.name)
	f.sm.SetLatency(get, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Connect(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2500*time.Millisecond { // half the fetch's 5s: returned at its own deadline
		t.Fatalf("cancelled caller returned after %v", d)
	}
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatalf("next caller: %v", err)
	}
	if n := f.sm.Calls(get); n != 1 {
		t.Fatalf("%d calls, want 1: the cancelled caller's fetch must serve the next caller", n)
	}
}

func TestRotationWindowUsesPending(t *testing.T) {
	f := newFixture(t)
	var events sync.Map
	c := f.connector(f.name, WithObserver(func(e Event) {
		n, _ := events.LoadOrStore(e.Kind, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}))
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	pending := f.rotateStart("pw2")
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := c.Connect(context.Background())
			if err != nil {
				t.Error(err)
			} else if conn.(*fakeConn).c.Password() != "pw2" {
				t.Error("not the pending password")
			}
		}()
	}
	wg.Wait()
	// initial + AWSPENDING
	if n := f.sm.Calls(get); n != 2 {
		t.Errorf("%d calls during the window, want 2", n)
	}
	f.rotateFinish(pending)
	for range 10 {
		if _, err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.sm.Calls(get); n != 2 {
		t.Errorf("%d calls after finishSecret, want still 2", n)
	}
	if n, ok := events.Load(EventPendingAdopted); !ok || n.(*atomic.Int64).Load() != 1 {
		t.Errorf("pending adopted events: %v", n)
	}
}

func TestNewerVersionWithoutPendingFallback(t *testing.T) {
	f := newFixture(t)
	c := f.connector(f.name, WithoutPendingFallback(), WithRetry(3, time.Millisecond), WithMinRefreshInterval(time.Second))
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := f.rotateStart("pw2")
	_, err := c.Connect(context.Background())
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("during the window without fallback: %v", err)
	}
	f.rotateFinish(id)
	time.Sleep(1100 * time.Millisecond) // past the minimum interval between forced fetches
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatalf("after finishSecret: %v", err)
	}
	if n := f.sm.SecretCalls(get, f.name); n != 3 {
		t.Errorf("%d calls, want 3 (initial, forced in the window, forced after)", n)
	}
}

// TestWrongPasswordBounded: a password the database keeps rejecting costs
// at most two GetSecretValue calls (AWSPENDING and AWSCURRENT) per minimum
// refresh interval, however many attempts and connects fail. The interval
// (a minute) outlasts the test, so the counts are exact whatever the
// machine's speed: the first read, then one forced read of each label.
func TestWrongPasswordBounded(t *testing.T) {
	const interval = time.Minute
	start := time.Now()
	f := newFixture(t)
	f.db.setPassword("app", "something else")
	opts := []Option{WithRetry(6, time.Millisecond), WithMinRefreshInterval(interval)}
	c := f.connector(f.name, opts...)
	_, err := c.Connect(context.Background())
	var ae *AuthError
	if !errors.Is(err, ErrAuthFailed) || !errors.As(err, &ae) || !errors.Is(err, errFakeAuth) || ae.Attempts != 6 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), f.arn) || ae.VersionID == "" || strings.Contains(err.Error(), "pw1") {
		t.Fatalf("error must name the ARN and version and not the password: %v", err)
	}
	if n := f.sm.Calls(get); n != 3 {
		t.Fatalf("one connect of 6 failed attempts made %d calls, want 3 (the first read, AWSPENDING, AWSCURRENT)", n)
	}
	// More connects within the interval read nothing: the reads made since
	// the version's first rejection answer for theirs.
	for range 3 {
		if _, err := c.Connect(context.Background()); !errors.Is(err, ErrAuthFailed) {
			t.Fatal(err)
		}
	}
	if n := f.sm.Calls(get); n != 3 {
		t.Fatalf("3 more failing connects: %d calls in all, want still 3", n)
	}

	// Concurrent failures on a secret not read yet share the first read and
	// the forced ones.
	f.sm.CreateSecret(f.name+"-concurrent", secretJSON("app", "pw1"))
	f.sm.ResetCalls()
	c2 := f.connector(f.name+"-concurrent", opts...)
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c2.Connect(context.Background()); !errors.Is(err, ErrAuthFailed) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.sm.Calls(get); n != 3 {
		t.Fatalf("40 concurrent failing connects made %d calls, want 3", n)
	}
	if took := time.Since(start); took >= interval {
		t.Fatalf("the test took %v, not less than the %v interval its exact counts assume", took, interval)
	}
}

func TestAuthRetryHonoursContext(t *testing.T) {
	f := newFixture(t)
	f.db.setPassword("app", "other")
	c := f.connector(f.name, WithRetry(100, 200*time.Millisecond))
	if _, err := c.Resolve(context.Background()); err != nil { // warm the cache
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Connect(ctx)
	if !errors.Is(err, ErrAuthFailed) || time.Since(start) > 3*time.Second { // 100 attempts would take 20s
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

func TestNonAuthErrorNoFetch(t *testing.T) {
	f := newFixture(t)
	c := f.connector(f.name)
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.db.setDown(true)
	for range 5 {
		if _, err := c.Connect(context.Background()); err != errFakeDown {
			t.Fatalf("err = %v, want the driver's own error unchanged", err)
		}
	}
	if n := f.sm.Calls(get); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

func TestStaleOnErrorAndBackgroundRefresh(t *testing.T) {
	f := newFixture(t)
	var stale atomic.Int64
	c := f.connector(f.name+"?ttl=1s", WithMinRefreshInterval(50*time.Millisecond), WithObserver(func(e Event) {
		if e.Kind == EventStaleServed {
			stale.Add(1)
		}
	}))
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.sm.Outage()
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if _, err := c.Connect(context.Background()); err != nil {
			t.Fatalf("connect during the outage: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if stale.Load() == 0 {
		t.Fatal("no refresh was attempted during the outage")
	}
	f.sm.Restore()
	// A new AWSCURRENT (with the old password still valid) is picked up by
	// the background refresh, without an auth failure.
	f.sm.PutSecretString(f.name, secretJSON("app2", "pwX"))
	f.db.setPassword("app2", "pwX")
	awaitUser(t, c, "app2", 3*time.Second)
}

func TestFetchErrors(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name  string
		setup func()
		dsn   string
		kind  error
	}{
		{"not found", func() {}, "no/such/secret", ErrSecretNotFound},
		{"access denied", func() { f.sm.Deny(f.name) }, f.name, ErrAccessDenied},
		{"throttled", func() { f.sm.FailNext(get, 1, "ThrottlingException") }, f.name, ErrThrottled},
		{"decryption", func() { f.sm.FailNext(get, 1, "DecryptionFailure") }, f.name, ErrDecryption},
		{"server error", func() { f.sm.FailNext(get, 1, "InternalServiceError") }, f.name, ErrSecretsManager},
		{"deleted", func() {
			_, err := f.sm.Client().DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(f.name)})
			if err != nil {
				t.Fatal(err)
			}
		}, f.name, ErrSecretDeleted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			defer f.sm.Allow(f.name)
			c := f.connector(tt.dsn)
			_, err := c.Connect(context.Background())
			var fe *FetchError
			if !errors.Is(err, tt.kind) || !errors.As(err, &fe) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			c.Close()
		})
	}
}

func TestColdErrorBacksOff(t *testing.T) {
	f := newFixture(t)
	f.sm.FailNext(get, 1000, "ThrottlingException")
	c := f.connector(f.name, WithMinRefreshInterval(time.Hour))
	for range 20 {
		if _, err := c.Connect(context.Background()); !errors.Is(err, ErrThrottled) {
			t.Fatal(err)
		}
	}
	if n := f.sm.Calls(get); n != 1 {
		t.Fatalf("%d calls while throttled, want 1", n)
	}
}

func TestSecretErrorsAtConnect(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		value string
		kind  error
	}{
		{`{"engine":"mysql","host":"h","username":"u","password":"p"}`, ErrEngineMismatch},
		{`{"engine":"postgres","host":"h","username":"u"}`, ErrMissingKey},
		{`{"engine":"postgres","username":"u","password":"p"}`, ErrMissingKey},
		{`not json`, ErrMalformedSecret},
	} {
		name := fmt.Sprintf("bad%d", f.sm.Calls(get))
		f.sm.CreateSecret(name, tt.value)
		_, err := f.connector(name).Connect(context.Background())
		var se *SecretError
		if !errors.Is(err, tt.kind) || !errors.As(err, &se) || se.VersionID == "" {
			t.Errorf("%s: err = %v, want %v", tt.value, err, tt.kind)
		}
		f.sm.Calls(get)
	}
	// Once the secret is fixed, connects pick up the new version without
	// waiting for the refresh interval (at most one fetch per minimum
	// refresh interval).
	f.sm.CreateSecret("fixme", `{"engine":"mysql","host":"h","username":"app","password":"pw1"}`)
	c := f.connector("fixme", WithMinRefreshInterval(100*time.Millisecond))
	for range 5 {
		if _, err := c.Connect(context.Background()); !errors.Is(err, ErrEngineMismatch) {
			t.Fatal(err)
		}
	}
	if n := f.sm.SecretCalls(get, "fixme"); n != 2 {
		t.Errorf("%d calls for 5 connects to a broken secret, want 2", n)
	}
	f.sm.PutSecretString("fixme", secretJSON("app", "pw1"))
	time.Sleep(120 * time.Millisecond)
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatalf("after fixing the secret: %v", err)
	}
	// A binary secret holding the JSON structure works.
	f.sm.CreateBinarySecret("binary", []byte(secretJSON("app", "pw1")))
	if _, err := f.connector("binary").Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestBadDSNAtOpen(t *testing.T) {
	f := newFixture(t)
	for _, dsn := range []string{"", "db?port=x", "db?bad=1"} {
		_, err := openConnector(f.eng, dsn, WithClient(f.client), WithCache(f.cache))
		if !errors.Is(err, ErrInvalidDSN) {
			t.Errorf("%q: %v", dsn, err)
		}
	}
	for _, o := range []Option{WithRetry(0, 0), WithRefreshInterval(0), WithClient(nil), WithFetchTimeout(0)} {
		_, err := openConnector(f.eng, "db", WithClient(f.client), WithCache(f.cache), o)
		if !errors.Is(err, ErrInvalidOption) {
			t.Errorf("option: %v", err)
		}
	}
	if _, err := NewConnector("nosuch", "db"); !errors.Is(err, ErrUnknownEngine) {
		t.Error(err)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	f := newFixture(t)
	before := runtime.NumGoroutine()
	f.sm.SetLatency(get, 200*time.Millisecond)
	c := f.connector(f.name + "?ttl=1s")
	db := sql.OpenDB(c)
	go c.Connect(context.Background()) // a fetch in flight at Close
	time.Sleep(20 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if _, err := c.Connect(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("connect after close: %v", err)
	}
	f.cache.mu.Lock()
	n := len(f.cache.entries)
	f.cache.mu.Unlock()
	if n != 1 {
		t.Errorf("%d cache entries, want 1 kept for its grace period", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "secretsql.(*entry)") {
		t.Fatalf("goroutines of ours remain:\n%s", stacks)
	}
}

// TestBackToBackRotations: a second rotation less than the minimum refresh
// interval after the first still finds its AWSPENDING version: the forced
// fetches of the first rotation predate the new rejection, so the connect
// waits for the interval instead of failing.
func TestBackToBackRotations(t *testing.T) {
	f := newFixture(t)
	c := f.connector(f.name, WithMinRefreshInterval(500*time.Millisecond))
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, pw := range []string{"pw2", "pw3", "pw4"} {
		id := f.rotateStart(pw)
		conn, err := c.Connect(context.Background())
		if err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		if got := conn.(*fakeConn).c.Password(); got != pw {
			t.Fatalf("rotation %d: connected with %q", i+1, got)
		}
		f.rotateFinish(id)
	}
	// Each rotation: one AWSPENDING fetch.
	if n := f.sm.Calls(get); n != 4 {
		t.Errorf("%d calls for 3 rotations, want 4", n)
	}
}

// valueClient is a comparable, non-pointer GetSecretValueAPI.
type valueClient struct{ c *secretsmanager.Client }

func (v valueClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, o ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return v.c.GetSecretValue(ctx, in, o...)
}

func TestCacheSharedForClientValues(t *testing.T) {
	f := newFixture(t)
	client := valueClient{f.sm.Client()}
	for range 2 {
		c, err := openConnector(f.eng, f.arn, WithClient(client), WithCache(f.cache))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Resolve(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.sm.Calls(get); n != 1 {
		t.Fatalf("%d calls for two Connectors with equal clients, want 1", n)
	}
}

// TestNativeConnectorPerVersion: the native connector is built once per
// VersionId, not again when a refresh or a forced read fetches the same
// version anew.
func TestNativeConnectorPerVersion(t *testing.T) {
	f := newFixture(t)
	f.eng.built = new(atomic.Int64)
	c := f.connector(f.name+"?ttl=1s", WithMinRefreshInterval(50*time.Millisecond))
	built := f.eng.built.Load
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for f.sm.Calls(get) < 2 && time.Now().Before(deadline) { // a background refresh
		if _, err := c.Connect(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if f.sm.Calls(get) < 2 {
		t.Fatal("no background refresh happened")
	}
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := built(); n != 1 {
		t.Fatalf("%d native connectors built for one version, want 1", n)
	}
	f.rotateStart("pw2") // a new version: one more
	if _, err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := built(); n != 2 {
		t.Fatalf("%d native connectors built for two versions, want 2", n)
	}
}

// rotateFinishClear does finishSecret as rotation functions do: it moves
// AWSCURRENT to id, then takes AWSPENDING off it.
func (f *fixture) rotateFinishClear(id string) {
	f.t.Helper()
	f.rotateFinish(id)
	_, err := f.sm.Client().UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(f.name), VersionStage: aws.String(StagePending), RemoveFromVersionId: aws.String(id),
	})
	if err != nil {
		f.t.Error(err)
	}
}

// TestFinishBetweenForcedReads is a regression test: when finishSecret ran
// between the two reads that follow a rejected login (found by the 0 s
// window rotation drill of make bench), recovery used to read AWSCURRENT
// just before the move and AWSPENDING just after its removal, so it saw
// nothing new and failed the connect. Reading AWSPENDING first closes the
// gap: if it is gone, finishSecret has already moved AWSCURRENT.
func TestFinishBetweenForcedReads(t *testing.T) {
	f := newFixture(t)
	var (
		armed   atomic.Bool
		pending string
	)
	c := f.connector(f.name, WithObserver(func(e Event) {
		if e.Kind == EventFetch && armed.CompareAndSwap(true, false) {
			f.rotateFinishClear(pending) // right after the first forced read
		}
	}))
	connectAs(t, c, "pw1")
	pending = f.rotateStart("pw2")
	armed.Store(true)
	connectAs(t, c, "pw2")
	if n := f.sm.Calls(get); n > 3 {
		t.Errorf("%d calls, want at most 3", n)
	}
}

// connectAs connects through c and fails the test unless the connection
// logged in with password pw.
func connectAs(t *testing.T, c *Connector, pw string) {
	t.Helper()
	conn, err := c.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.(*fakeConn).c.Password(); got != pw {
		t.Fatalf("connected with %q, want %q", got, pw)
	}
}

// TestRecoveryReadsInOrder checks what recovery finds, and with how many
// calls, in the secret states a rejected login can meet.
func TestRecoveryReadsInOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string // also part of the secret name
		change func(f *fixture) (password string)
		calls  int // including the first fetch
	}{
		{"window_pending", func(f *fixture) string {
			f.rotateStart("pw2")
			return "pw2"
		}, 2},
		{"finished_then_current", func(f *fixture) string {
			f.rotateFinishClear(f.rotateStart("pw2"))
			return "pw2"
		}, 3},
		{"stale_pending_new_current", func(f *fixture) string {
			f.sm.PutSecretString(f.name, secretJSON("app", "never-set"), StagePending) // setSecret never ran
			f.db.setPassword("app", "pw3")
			f.sm.PutSecretString(f.name, secretJSON("app", "pw3")) // AWSCURRENT, set by hand
			return "pw3"
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.connector(f.name)
			connectAs(t, c, "pw1")
			connectAs(t, c, tc.change(f))
			if n := f.sm.Calls(get); n != tc.calls {
				t.Errorf("%d calls, want %d", n, tc.calls)
			}
		})
	}
}

// A hook that cannot tell which version a failed query used may report a
// good AWSPENDING version as rejected (mysql Hook.ReportError reports the
// version handed out last). That must not hide it from later reports.
func TestFalseReportDoesNotHidePending(t *testing.T) {
	c, old, pending := rejectDuringRotation(t)
	if _, err := c.h.Rejected(context.Background(), pending, 1); err != nil { // false report
		t.Logf("false report: %v", err)
	}
	next, err := c.h.Rejected(context.Background(), old, 1)
	if err != nil || next.VersionID != pending {
		t.Fatalf("after a false report, Rejected(old) = %s, %v; want %s", next.VersionID, err, pending)
	}
	if r, err := c.Resolve(context.Background()); err != nil || r.VersionID != pending {
		t.Fatalf("Resolve = %s, %v; want %s", r.VersionID, err, pending)
	}
}

// A login checked before a rotation changed the password can report its
// success after another login was refused (a slow TLS or SCRAM exchange
// under load): that late acceptance must not undo the rejection, or the
// next reader of the rejected version finds nothing newer than it. An
// acceptance of a login that began after the rejection does undo it.
func TestLateAcceptanceKeepsRejection(t *testing.T) {
	began := time.Now() // a login with the old password, checked in time
	time.Sleep(time.Millisecond)
	c, old, pending := rejectDuringRotation(t)
	c.h.Accepted(old, began) // … reports its success only now
	if r, err := c.h.Credentials(context.Background()); err != nil || r.VersionID != pending {
		t.Fatalf("after a late acceptance, Credentials = %s, %v; want %s", r.VersionID, err, pending)
	}
	if next, err := c.h.Rejected(context.Background(), old, 1); err != nil || next.VersionID != pending {
		t.Fatalf("after a late acceptance, Rejected(old) = %s, %v; want %s", next.VersionID, err, pending)
	}
	c.h.Accepted(old, time.Now()) // a login that began after every rejection
	if r, err := c.h.Credentials(context.Background()); err != nil || r.VersionID != old {
		t.Fatalf("after an acceptance newer than the rejection, Credentials = %s, %v; want %s", r.VersionID, err, old)
	}
}

// rejectDuringRotation opens a Connector, starts a rotation (AWSPENDING
// holds the password the database now expects) and reports the old
// version rejected, which must yield AWSPENDING.
func rejectDuringRotation(t *testing.T) (c *Connector, old, pending string) {
	t.Helper()
	f := newFixture(t)
	c = f.connector(f.name)
	r, err := c.Resolve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	old = r.VersionID
	pending = f.rotateStart("pw2")
	if next, err := c.h.Rejected(context.Background(), old, 1); err != nil || next.VersionID != pending {
		t.Fatalf("Rejected(old) = %s, %v; want %s", next.VersionID, err, pending)
	}
	return c, old, pending
}

// TestTwoRoundsStalePending: a first round leaves AWSPENDING on an old
// version when a new AWSCURRENT is put by hand; a second round moves
// AWSPENDING again. Connects must reach every new password, reading the
// secret, never alternate between versions the database rejected.
func TestTwoRoundsStalePending(t *testing.T) {
	f := newFixture(t)
	c := f.connector(f.name, WithMinRefreshInterval(50*time.Millisecond))
	connectAs(t, c, "pw1")
	f.rotateStart("pw2") // round 1: AWSPENDING pw2, the database too
	connectAs(t, c, "pw2")
	f.db.setPassword("app", "pw3") // a new AWSCURRENT by hand; AWSPENDING stays on pw2
	f.sm.PutSecretString(f.name, secretJSON("app", "pw3"), StageCurrent)
	time.Sleep(60 * time.Millisecond)
	connectAs(t, c, "pw3")
	time.Sleep(60 * time.Millisecond)
	f.rotateStart("pw4") // round 2: AWSPENDING moves to pw4
	connectAs(t, c, "pw4")
	f.db.setPassword("app", "pw5") // and by hand again
	f.sm.PutSecretString(f.name, secretJSON("app", "pw5"), StageCurrent)
	time.Sleep(60 * time.Millisecond)
	connectAs(t, c, "pw5")
}

// The same rounds back to back with the default minimum refresh interval:
// the connects wait for the interval when the last reads predate their
// rejections.
func TestTwoRoundsStalePendingBackToBack(t *testing.T) {
	f := newFixture(t)
	c := f.connector(f.name)
	connectAs(t, c, "pw1")
	f.rotateStart("pw2")
	connectAs(t, c, "pw2")
	f.db.setPassword("app", "pw3")
	f.sm.PutSecretString(f.name, secretJSON("app", "pw3"), StageCurrent)
	connectAs(t, c, "pw3")
	f.rotateStart("pw4")
	connectAs(t, c, "pw4")
	f.db.setPassword("app", "pw5")
	f.sm.PutSecretString(f.name, secretJSON("app", "pw5"), StageCurrent)
	connectAs(t, c, "pw5")
}
