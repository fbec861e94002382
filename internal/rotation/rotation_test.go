package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/rotation/sqldb"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// A testdb.DB is what the rotations of these tests change.
var (
	_ rotation.Database       = (*testdb.DB)(nil)
	_ rotation.PasswordSetter = (*testdb.DB)(nil)
	_ rotation.Cloner         = (*testdb.DB)(nil)
)

// bed is a database plus a Secrets Manager emulator holding its secret.
type bed struct {
	engine    string
	db        *testdb.DB
	srv       *smtest.Server
	client    *secretsmanager.Client
	arn       string // the rotated secret
	masterARN string // the admin secret (alternating users)
	initial   map[string]any
	rot       *rotation.Rotator
}

// extraKeys are keys a rotation must carry over unchanged; "port" is a
// string here on purpose (the AWS guide's CLI example stores it so).
func extraKeys(engine string) map[string]any {
	port := "5432"
	if engine == testdb.EngineMariaDB {
		port = "3306"
	}
	return map[string]any{
		"port":                 port,
		"dbInstanceIdentifier": "sqt-instance",
		"nested":               map[string]any{"list": []any{1.0, "two", nil}},
	}
}

func newBed(t *testing.T, engine string, strategy rotation.Strategy) *bed {
	t.Helper()
	b := &bed{engine: engine, db: testdb.Open(t, engine), srv: smtest.NewServer()}
	t.Cleanup(b.srv.Close)
	b.client = b.srv.Client()
	if err := json.Unmarshal([]byte(b.db.SecretJSON()), &b.initial); err != nil {
		t.Fatal(err)
	}
	maps.Copy(b.initial, extraKeys(engine))
	if strategy == rotation.AlternatingUsers {
		b.masterARN = b.srv.CreateSecret("rds/admin", b.db.AdminSecretJSON())
		b.initial["masterarn"] = b.masterARN
	}
	value, err := json.Marshal(b.initial)
	if err != nil {
		t.Fatal(err)
	}
	b.arn = b.srv.CreateSecret("rds/app", string(value))
	b.rot = &rotation.Rotator{Client: b.client, DB: b.db, Strategy: strategy, Logf: t.Logf}
	return b
}

// version is one version of the secret as a client reads it.
type version struct {
	id     string
	values map[string]any
	user   string
	pass   string
}

func (b *bed) get(t *testing.T, stage string) version {
	t.Helper()
	out, err := b.client.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(b.arn), VersionStage: aws.String(stage),
	})
	if err != nil {
		t.Fatalf("GetSecretValue %s: %v", stage, err)
	}
	v := version{id: aws.ToString(out.VersionId)}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v.values); err != nil {
		t.Fatal(err)
	}
	v.user, _ = v.values["username"].(string)
	v.pass, _ = v.values["password"].(string)
	return v
}

// stages returns the secret's labels as DescribeSecret reports them.
func (b *bed) stages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := b.client.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(b.arn)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range out.VersionIdsToStages {
		slices.Sort(s)
	}
	return out.VersionIdsToStages
}

func (b *bed) wantStages(t *testing.T, want map[string][]string) {
	t.Helper()
	if got := b.stages(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("stages = %v, want %v", got, want)
	}
}

func (b *bed) mustLogin(t *testing.T, v version, what string) {
	t.Helper()
	if err := b.db.Login(t.Context(), v.user, v.pass); err != nil {
		t.Fatalf("%s (user %s) does not log in: %v", what, v.user, err)
	}
}

// mustBeRejected fails unless the database refuses v's password with the
// engine's authentication error.
func (b *bed) mustBeRejected(t *testing.T, v version, what string) {
	t.Helper()
	err := b.db.Login(t.Context(), v.user, v.pass)
	if err == nil {
		t.Fatalf("%s (user %s) still logs in, want it rejected", what, v.user)
	}
	var pe *pgconn.PgError
	var me *mysql.MySQLError
	switch {
	case b.engine == testdb.EnginePostgres && errors.As(err, &pe) && pe.Code == "28P01":
	case b.engine == testdb.EngineMariaDB && errors.As(err, &me) && me.Number == 1045:
	default:
		t.Fatalf("%s: got %v, want an authentication failure", what, err)
	}
}

// checkResult verifies the result of a completed rotation against the
// secret's stages.
func (b *bed) checkResult(t *testing.T, res *rotation.Result, prev version) version {
	t.Helper()
	cur := b.get(t, rotation.StageCurrent)
	if res.VersionID != cur.id || res.PreviousVersionID != prev.id {
		t.Errorf("result versions %s (previous %s), want %s (previous %s)", res.VersionID, res.PreviousVersionID, cur.id, prev.id)
	}
	if res.Username != cur.user || res.PreviousUsername != prev.user {
		t.Errorf("result users %q (previous %q), want %q (previous %q)", res.Username, res.PreviousUsername, cur.user, prev.user)
	}
	var steps []rotation.Step
	for _, st := range res.Timings {
		steps = append(steps, st.Step)
		if st.Duration <= 0 {
			t.Errorf("step %s took %v", st.Step, st.Duration)
		}
	}
	if !slices.Equal(steps, rotation.Steps()) {
		t.Errorf("timed steps %v, want %v", steps, rotation.Steps())
	}
	// AWSCURRENT moved, AWSPREVIOUS followed, no AWSPENDING left over.
	b.wantStages(t, map[string][]string{cur.id: {rotation.StageCurrent}, prev.id: {rotation.StagePrevious}})
	if got := b.get(t, rotation.StagePrevious); !reflect.DeepEqual(got, prev) {
		t.Errorf("AWSPREVIOUS = %+v, want the former AWSCURRENT %+v", got, prev)
	}
	// Only the credentials changed; every other key is carried over.
	for k, v := range prev.values {
		if k != "username" && k != "password" && !reflect.DeepEqual(cur.values[k], v) {
			t.Errorf("key %q = %#v after rotation, want %#v", k, cur.values[k], v)
		}
	}
	if len(cur.values) != len(prev.values) {
		t.Errorf("keys %v after rotation, want those of %v", slices.Sorted(maps.Keys(cur.values)), slices.Sorted(maps.Keys(prev.values)))
	}
	if cur.pass == prev.pass {
		t.Error("the password did not change")
	}
	for _, c := range rotation.HostileChars {
		if !strings.ContainsRune(cur.pass, c) {
			t.Errorf("new password lacks %q", c)
		}
	}
	return cur
}

func forEachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			f(t, engine)
		})
	}
}

func TestSingleUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		b := newBed(t, engine, rotation.SingleUser)
		v0 := b.get(t, rotation.StageCurrent)
		b.mustLogin(t, v0, "the initial secret")

		res, err := b.rot.Rotate(t.Context(), b.arn)
		if err != nil {
			t.Fatal(err)
		}
		v1 := b.checkResult(t, res, v0)
		if v1.user != v0.user {
			t.Fatalf("user changed from %q to %q in single-user rotation", v0.user, v1.user)
		}
		b.mustLogin(t, v1, "AWSCURRENT after rotation")
		b.mustBeRejected(t, v0, "the previous password")

		// A second rotation starts from the first one's result.
		res, err = b.rot.Rotate(t.Context(), b.arn)
		if err != nil {
			t.Fatal(err)
		}
		v2 := b.checkResult(t, res, v1)
		b.mustLogin(t, v2, "AWSCURRENT after the second rotation")
		b.mustBeRejected(t, v1, "the password of the first rotation")
		b.mustBeRejected(t, v0, "the initial password")
	})
}

func TestAlternatingUsers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		b := newBed(t, engine, rotation.AlternatingUsers)
		v0 := b.get(t, rotation.StageCurrent)

		res, err := b.rot.Rotate(t.Context(), b.arn)
		if err != nil {
			t.Fatal(err)
		}
		v1 := b.checkResult(t, res, v0)
		if want := b.db.User + rotation.CloneSuffix; v1.user != want {
			t.Fatalf("AWSCURRENT user = %q, want %q", v1.user, want)
		}
		if v1.values["masterarn"] != b.masterARN {
			t.Errorf("masterarn = %v, want %s", v1.values["masterarn"], b.masterARN)
		}
		// setSecret read the admin secret through the API, as the Lambda does.
		if n := b.srv.SecretCalls("GetSecretValue", b.masterARN); n < 1 {
			t.Errorf("the admin secret was read %d times", n)
		}
		b.mustLogin(t, v1, "the clone user")
		b.mustLogin(t, v0, "the original user (AWSPREVIOUS)")

		// The second rotation goes back to the original user, with a new
		// password: its old one stops working, the clone keeps working.
		res, err = b.rot.Rotate(t.Context(), b.arn)
		if err != nil {
			t.Fatal(err)
		}
		v2 := b.checkResult(t, res, v1)
		if v2.user != b.db.User {
			t.Fatalf("AWSCURRENT user = %q, want %q", v2.user, b.db.User)
		}
		b.mustLogin(t, v2, "the original user with its new password")
		b.mustLogin(t, v1, "the clone user (AWSPREVIOUS)")
		b.mustBeRejected(t, v0, "the original user's first password")

		// And a third one back to the clone.
		res, err = b.rot.Rotate(t.Context(), b.arn)
		if err != nil {
			t.Fatal(err)
		}
		v3 := b.checkResult(t, res, v2)
		if v3.user != v1.user {
			t.Fatalf("AWSCURRENT user = %q, want %q", v3.user, v1.user)
		}
		b.mustLogin(t, v3, "the clone user with its new password")
		b.mustLogin(t, v2, "the original user (AWSPREVIOUS)")
		b.mustBeRejected(t, v1, "the clone user's first password")
	})
}

func TestHookHoldsWindow(t *testing.T) {
	for _, strategy := range []rotation.Strategy{rotation.SingleUser, rotation.AlternatingUsers} {
		t.Run(strings.ReplaceAll(strategy.String(), " ", "_"), func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, engine string) {
				testHookHoldsWindow(t, engine, strategy)
			})
		})
	}
}

func testHookHoldsWindow(t *testing.T, engine string, strategy rotation.Strategy) {
	b := newBed(t, engine, strategy)
	v0 := b.get(t, rotation.StageCurrent)

	paused, resume := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(resume) })
	var hooked []rotation.Step // written by the rotation's goroutine only
	b.rot.Hook = func(ctx context.Context, next rotation.Step) error {
		hooked = append(hooked, next)
		if next != rotation.FinishSecret {
			return nil
		}
		close(paused)
		select {
		case <-resume:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	type outcome struct {
		res *rotation.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := b.rot.Rotate(context.Background(), b.arn)
		done <- outcome{res, err}
	}()
	var (
		o        outcome
		received bool
	)
	defer func() {
		// If the test fails early, let the rotation end before the test
		// (and its database) does.
		if !received {
			release()
			select {
			case <-done:
			case <-time.After(time.Minute):
			}
		}
	}()
	select {
	case <-paused:
	case o = <-done:
		received = true
		t.Fatalf("rotation ended without pausing before finishSecret: %v", o.err)
	case <-time.After(time.Minute):
		t.Fatal("rotation did not reach finishSecret within a minute")
	}

	// The window: the database has the new credentials, AWSCURRENT does not.
	checkWindow := func() {
		t.Helper()
		cur := b.get(t, rotation.StageCurrent)
		pending := b.get(t, rotation.StagePending)
		if !reflect.DeepEqual(cur, v0) {
			t.Fatalf("AWSCURRENT changed during the pause: %+v", cur)
		}
		if pending.id == cur.id {
			t.Fatalf("AWSPENDING is the AWSCURRENT version %s", cur.id)
		}
		b.mustLogin(t, pending, "AWSPENDING during the window")
		if strategy == rotation.SingleUser {
			b.mustBeRejected(t, cur, "AWSCURRENT during the window")
		} else {
			if pending.user == cur.user {
				t.Fatalf("AWSPENDING has the same user %q as AWSCURRENT", cur.user)
			}
			b.mustLogin(t, cur, "AWSCURRENT (the other user) during the window")
		}
	}
	checkWindow()
	time.Sleep(300 * time.Millisecond)
	select {
	case o = <-done:
		received = true
		t.Fatalf("rotation finished while the hook held it: %v", o.err)
	default:
	}
	checkWindow()

	release()
	select {
	case o = <-done:
		received = true
	case <-time.After(time.Minute):
		t.Fatal("rotation did not finish within a minute of resuming")
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	if !slices.Equal(hooked, rotation.Steps()) {
		t.Errorf("hook saw %v, want %v", hooked, rotation.Steps())
	}
	v1 := b.checkResult(t, o.res, v0)
	b.mustLogin(t, v1, "AWSCURRENT after the window")
}

func TestHookErrorStopsRotation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		b := newBed(t, engine, rotation.SingleUser)
		v0 := b.get(t, rotation.StageCurrent)
		stop := errors.New("stop here")
		b.rot.Hook = func(_ context.Context, next rotation.Step) error {
			if next == rotation.SetSecret {
				return stop
			}
			return nil
		}
		res, err := b.rot.Rotate(t.Context(), b.arn)
		if !errors.Is(err, stop) {
			t.Fatalf("Rotate error = %v, want the hook's", err)
		}
		if len(res.Timings) != 1 || res.Timings[0].Step != rotation.CreateSecret {
			t.Errorf("timings %v, want createSecret only", res.Timings)
		}
		// createSecret ran, nothing else did.
		pending := b.get(t, rotation.StagePending)
		if pending.id != res.VersionID {
			t.Fatalf("AWSPENDING is %s, want %s", pending.id, res.VersionID)
		}
		b.wantStages(t, map[string][]string{v0.id: {rotation.StageCurrent}, res.VersionID: {rotation.StagePending}})
		b.mustLogin(t, v0, "AWSCURRENT")
		b.mustBeRejected(t, pending, "the AWSPENDING password that was never set")

		// A new rotation takes over from the abandoned one.
		b.rot.Hook = nil
		res2, err := b.rot.Rotate(t.Context(), b.arn)
		if err != nil {
			t.Fatal(err)
		}
		v1 := b.checkResult(t, res2, v0) // the abandoned version lost AWSPENDING
		b.mustLogin(t, v1, "AWSCURRENT after the second rotation")
		b.mustBeRejected(t, v0, "the initial password")
	})
}

// noopSetter claims to set passwords but does not.
type noopSetter struct{ *testdb.DB }

func (noopSetter) SetPassword(context.Context, string, string) error { return nil }

func TestTestSecretCatchesUnsetPassword(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		b := newBed(t, engine, rotation.SingleUser)
		v0 := b.get(t, rotation.StageCurrent)
		b.rot.DB = noopSetter{b.db}
		res, err := b.rot.Rotate(t.Context(), b.arn)
		if err == nil || !strings.Contains(err.Error(), string(rotation.TestSecret)) {
			t.Fatalf("Rotate error = %v, want a testSecret failure", err)
		}
		if n := len(res.Timings); n != 3 {
			t.Errorf("%d steps ran, want 3", n)
		}
		if cur := b.get(t, rotation.StageCurrent); cur.id != v0.id {
			t.Errorf("AWSCURRENT moved to %s although testSecret failed", cur.id)
		}
		b.mustLogin(t, v0, "AWSCURRENT")
	})
}

func TestRunStepIsIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		for _, strategy := range []rotation.Strategy{rotation.SingleUser, rotation.AlternatingUsers} {
			b := newBed(t, engine, strategy)
			ctx := t.Context()
			v0 := b.get(t, rotation.StageCurrent)
			token := uuid.NewString()
			if err := b.rot.RunStep(ctx, b.arn, token, rotation.SetSecret); err == nil {
				t.Fatal("setSecret before createSecret succeeded")
			}
			var pending version
			for _, step := range rotation.Steps() {
				for i := range 2 {
					if err := b.rot.RunStep(ctx, b.arn, token, step); err != nil {
						t.Fatalf("%v: %s run %d: %v", strategy, step, i+1, err)
					}
					if step == rotation.CreateSecret {
						p := b.get(t, rotation.StagePending)
						if i == 1 && !reflect.DeepEqual(p, pending) {
							t.Fatalf("%v: second createSecret changed AWSPENDING", strategy)
						}
						pending = p
					}
				}
			}
			b.wantStages(t, map[string][]string{token: {rotation.StageCurrent}, v0.id: {rotation.StagePrevious}})
			b.mustLogin(t, b.get(t, rotation.StageCurrent), "AWSCURRENT")
			// Steps for a finished version are no-ops, not new rotations.
			for _, step := range rotation.Steps() {
				if err := b.rot.RunStep(ctx, b.arn, token, step); err != nil {
					t.Fatalf("%v: %s after the rotation: %v", strategy, step, err)
				}
			}
			b.wantStages(t, map[string][]string{token: {rotation.StageCurrent}, v0.id: {rotation.StagePrevious}})
			if err := b.rot.RunStep(ctx, b.arn, "no-such-version", rotation.TestSecret); err == nil {
				t.Errorf("%v: testSecret of an unknown version succeeded", strategy)
			}
		}
	})
}

func TestAlternatingUsersNeedsMasterARN(t *testing.T) {
	b := newBed(t, testdb.EnginePostgres, rotation.SingleUser) // no masterarn
	b.rot.Strategy = rotation.AlternatingUsers
	v0 := b.get(t, rotation.StageCurrent)
	_, err := b.rot.Rotate(t.Context(), b.arn)
	if err == nil || !strings.Contains(err.Error(), "masterarn") {
		t.Fatalf("Rotate error = %v, want a missing masterarn", err)
	}
	if cur := b.get(t, rotation.StageCurrent); cur.id != v0.id {
		t.Error("AWSCURRENT moved")
	}
	b.mustLogin(t, v0, "AWSCURRENT")
}

// loginOnly is a Database that cannot create users.
type loginOnly struct{ rotation.Database }

func TestRotatorChecks(t *testing.T) {
	srv := smtest.NewServer()
	defer srv.Close()
	arn := srv.CreateSecret("x", `{"username":"u","password":"p"}`)
	db := loginOnly{}
	for name, r := range map[string]*rotation.Rotator{
		"no client":     {DB: db},
		"no database":   {Client: srv.Client()},
		"bad strategy":  {Client: srv.Client(), DB: db, Strategy: 7},
		"cannot set":    {Client: srv.Client(), DB: db, Strategy: rotation.SingleUser},
		"cannot create": {Client: srv.Client(), DB: db, Strategy: rotation.AlternatingUsers},
	} {
		if _, err := r.Rotate(t.Context(), arn); err == nil {
			t.Errorf("%s: Rotate succeeded", name)
		}
	}
	r := &rotation.Rotator{Client: srv.Client(), DB: noopSetter{}} // never reached
	if err := r.RunStep(t.Context(), arn, uuid.NewString(), "rotateEverything"); err == nil {
		t.Error("RunStep accepted an unknown step")
	}
	if err := r.RunStep(t.Context(), arn, "", rotation.CreateSecret); err == nil {
		t.Error("RunStep accepted an empty token")
	}
	if n := srv.Calls("PutSecretValue"); n != 0 {
		t.Errorf("%d PutSecretValue calls by misconfigured rotators", n)
	}
}

// TestWrongAdminPassword: an alternating-users rotation whose admin secret
// holds a password the server refuses fails in setSecret with the server's
// refusal, creates no user and leaves AWSCURRENT: with a testdb.DB (a
// Cloner, checked with Login first, whose own admin connection would work)
// and with a sqldb.DB (an AdminCloner, whose CloneUserAs is the login).
func TestWrongAdminPassword(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		for _, adminCloner := range []bool{false, true} {
			b := newBed(t, engine, rotation.AlternatingUsers)
			if adminCloner {
				db, err := sqldb.FromSecret(b.db.SecretJSON())
				if err != nil {
					t.Fatal(err)
				}
				b.rot.DB = db
			}
			// The test bed trusts the superuser with any password: the admin
			// secret names the database's user, whose password is checked.
			if _, err := b.client.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
				SecretId:      aws.String(b.masterARN),
				SecretString:  aws.String(b.db.SecretJSONFor(b.db.User, "not the password")),
				VersionStages: []string{rotation.StageCurrent},
			}); err != nil {
				t.Fatal(err)
			}
			v0 := b.get(t, rotation.StageCurrent)
			_, err := b.rot.Rotate(t.Context(), b.arn)
			if err == nil || !strings.Contains(err.Error(), string(rotation.SetSecret)) || !sqldb.IsAuthFailure(err) {
				t.Fatalf("AdminCloner %v: Rotate error = %v, want setSecret failing with the server's refusal", adminCloner, err)
			}
			if cur := b.get(t, rotation.StageCurrent); cur.id != v0.id {
				t.Errorf("AdminCloner %v: AWSCURRENT moved to %s", adminCloner, cur.id)
			}
			// PostgreSQL refuses a role that does not exist with 28000.
			pending := b.get(t, rotation.StagePending)
			if err := b.db.Login(t.Context(), pending.user, pending.pass); !sqldb.IsAuthFailure(err) {
				t.Errorf("AdminCloner %v: the clone user setSecret did not create logs in with %v, want it refused", adminCloner, err)
			}
			b.mustLogin(t, v0, "AWSCURRENT")
		}
	})
}

func TestAltUsername(t *testing.T) {
	for in, want := range map[string]string{
		"app":             "app_clone",
		"app_clone":       "app",
		"app_clone_clone": "app_clone",
		"_clone":          "_clone_clone",
		"":                "_clone",
	} {
		if got := rotation.AltUsername(in); got != want {
			t.Errorf("AltUsername(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p, err := rotation.GeneratePassword()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 32 {
			t.Fatalf("%q: length %d", p, len(p))
		}
		for _, c := range rotation.HostileChars {
			if !strings.ContainsRune(p, c) {
				t.Fatalf("%q lacks %q", p, c)
			}
		}
		for _, c := range p {
			if !strings.ContainsRune(rotation.PasswordChars+rotation.HostileChars, c) {
				t.Fatalf("%q has unexpected %q", p, c)
			}
		}
		if seen[p] {
			t.Fatalf("%q generated twice", p)
		}
		seen[p] = true
	}
}

func TestStrategyString(t *testing.T) {
	if s := rotation.SingleUser.String(); s != "single user" {
		t.Error(s)
	}
	if s := rotation.AlternatingUsers.String(); s != "alternating users" {
		t.Error(s)
	}
	if s := rotation.Strategy(9).String(); s != "Strategy(9)" {
		t.Error(s)
	}
}

// forwarder accepts connections on 127.0.0.1 and forwards each one to
// target, counting them. It stops, with its connections, when the test
// ends.
func forwarder(t *testing.T, target string) (port int, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			track(in)
			out, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				in.Close()
				continue
			}
			track(out)
			for _, p := range [][2]net.Conn{{in, out}, {out, in}} {
				wg.Go(func() {
					_, _ = io.Copy(p[0], p[1])
					p[0].Close()
					p[1].Close()
				})
			}
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port, accepted
}

// TestAdminSecretLocation rotates alternating users whose admin secret
// names another port of the same host (a forwarder to the server) and, on
// PostgreSQL, another database: the admin's login goes there, as AWS's
// rotation functions connect with the admin secret's own host, port and
// database, and never to the port of the secret being rotated.
func TestAdminSecretLocation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		b := newBed(t, engine, rotation.AlternatingUsers)
		db, err := sqldb.FromSecret(b.db.SecretJSON())
		if err != nil {
			t.Fatal(err)
		}
		b.rot.DB = db
		var admin testdb.Secret
		if err := json.Unmarshal([]byte(b.db.AdminSecretJSON()), &admin); err != nil {
			t.Fatal(err)
		}
		port, accepted := forwarder(t, net.JoinHostPort(admin.Host, strconv.Itoa(admin.Port)))
		admin.Port = port
		if engine == testdb.EnginePostgres {
			admin.DBName = "postgres"
		}
		value, err := json.Marshal(admin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.client.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(b.masterARN), SecretString: aws.String(string(value)),
		}); err != nil {
			t.Fatal(err)
		}
		v0 := b.get(t, rotation.StageCurrent)
		res, err := b.rot.Rotate(t.Context(), b.arn)
		if err != nil {
			t.Fatal(err)
		}
		if n := accepted.Load(); n == 0 {
			t.Fatalf("no connection reached port %d of the admin secret: the admin logged in at the rotated secret's port %d", port, db.Port)
		}
		v1 := b.checkResult(t, res, v0)
		b.mustLogin(t, v1, "AWSCURRENT")
	})
}
