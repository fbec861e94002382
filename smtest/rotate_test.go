package smtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"

	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/rotation/sqldb"
	"github.com/secretsql/secretsql/internal/rotation/sqldb/sqldbtest"
	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

func describe(t *testing.T, c *secretsmanager.Client, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	return ok(c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)}))(t)
}

func rotate(t *testing.T, c *secretsmanager.Client, in *secretsmanager.RotateSecretInput) string {
	t.Helper()
	return aws.ToString(ok(c.RotateSecret(t.Context(), in))(t).VersionId)
}

func wait(t *testing.T, srv *smtest.Server, id string) {
	t.Helper()
	if err := srv.WaitRotation(t.Context(), id); err != nil {
		t.Fatalf("rotation of %s: %v", id, err)
	}
}

func TestRotateSecretRealDatabases(t *testing.T) {
	for _, engine := range testdb.Engines() {
		for _, strategy := range rotation.Strategies() {
			t.Run(engine+"/"+strategy.String(), func(t *testing.T) {
				alternating := strategy == rotation.AlternatingUsers
				tdb, db := sqldbtest.Open(t, engine)
				srv, c := newServer(t)
				secret := tdb.SecretJSON()
				if alternating {
					secret = sqldbtest.WithMaster(secret, srv.CreateSecret("admin", tdb.AdminSecretJSON()))
				}
				srv.CreateSecret("app", secret)
				first := describe(t, c, "app")

				// Two rotations: with alternating users the second one gives
				// the original user a new password.
				users := []string{tdb.User, tdb.User}
				if alternating {
					users[0] = tdb.User + "_clone"
				}
				oldPassword := tdb.Password
				for i, wantUser := range users {
					token := uuid.NewString()
					if got := rotate(t, c, &secretsmanager.RotateSecretInput{SecretId: aws.String("app"), ClientRequestToken: aws.String(token)}); got != token {
						t.Fatalf("VersionId %s, want the ClientRequestToken %s", got, token)
					}
					wait(t, srv, "app")
					d := describe(t, c, "app")
					if got := d.VersionIdsToStages[token]; !slices.Equal(got, []string{"AWSCURRENT"}) {
						t.Fatalf("rotation %d: stages of the new version %v (all: %v)", i+1, got, d.VersionIdsToStages)
					}
					if d.RotationEnabled == nil || !*d.RotationEnabled || d.LastRotatedDate == nil || d.LastRotatedDate.Before(*first.CreatedDate) {
						t.Fatalf("RotationEnabled %v, LastRotatedDate %v", d.RotationEnabled, d.LastRotatedDate)
					}
					user, password := sqldbtest.SecretCredentials(t, c, "app", "AWSCURRENT")
					if user != wantUser || password == oldPassword {
						t.Fatalf("rotation %d: AWSCURRENT user %s, want %s with a new password", i+1, user, wantUser)
					}
					sqldbtest.Login(t, db, user, password, true)
					if user == tdb.User {
						sqldbtest.Login(t, db, user, tdb.Password, false)
					}
					prevUser, prevPassword := sqldbtest.SecretCredentials(t, c, "app", "AWSPREVIOUS")
					if alternating {
						// The previous user keeps working until the next rotation.
						sqldbtest.Login(t, db, prevUser, prevPassword, true)
					}
					oldPassword = password
				}
			})
		}
	}
}

func TestRotateSecretInProgressAndCancel(t *testing.T) {
	tdb, db := sqldbtest.Open(t, testdb.EnginePostgres)
	srv, c := newServer(t, smtest.WithRotationWindow(time.Hour))
	srv.CreateSecret("app", tdb.SecretJSON())
	token := uuid.NewString()
	rotate(t, c, &secretsmanager.RotateSecretInput{SecretId: aws.String("app"), ClientRequestToken: aws.String(token)})

	// Bounded wait until setSecret is done: the window is open.
	waitFor(t, time.Minute, func() bool {
		out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app"), VersionStage: aws.String("AWSPENDING")})
		if err != nil {
			return false
		}
		var p struct{ Username, Password string }
		return json.Unmarshal([]byte(aws.ToString(out.SecretString)), &p) == nil && db.Login(t.Context(), p.Username, p.Password) == nil
	})
	// In the window, AWSCURRENT's password no longer works.
	user, password := sqldbtest.SecretCredentials(t, c, "app", "AWSCURRENT")
	sqldbtest.Login(t, db, user, password, false)

	// The same request again is answered with the same version; another one
	// finds the rotation in progress.
	if got := rotate(t, c, &secretsmanager.RotateSecretInput{SecretId: aws.String("app"), ClientRequestToken: aws.String(token)}); got != token {
		t.Fatalf("repeated RotateSecret: VersionId %s, want %s", got, token)
	}
	_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
	wantErr[*types.InvalidRequestException](t, err)
	if !strings.Contains(err.Error(), "A previous rotation isn't complete") {
		t.Fatalf("error %v", err)
	}

	out := ok(c.CancelRotateSecret(t.Context(), &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("app")}))(t)
	if aws.ToString(out.VersionId) != token {
		t.Fatalf("CancelRotateSecret VersionId %s, want the incomplete version %s", aws.ToString(out.VersionId), token)
	}
	if err := srv.WaitRotation(t.Context(), "app"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled rotation ended with %v", err)
	}
	d := describe(t, c, "app")
	if d.RotationEnabled == nil || *d.RotationEnabled || d.LastRotatedDate != nil || d.NextRotationDate != nil {
		t.Fatalf("after cancel: RotationEnabled %v LastRotatedDate %v NextRotationDate %v", d.RotationEnabled, d.LastRotatedDate, d.NextRotationDate)
	}
	if !slices.Equal(d.VersionIdsToStages[token], []string{"AWSPENDING"}) {
		t.Fatalf("stages after cancel: %v", d.VersionIdsToStages)
	}
}

// TestForcedDeleteStopsRotation deletes a secret without recovery while its
// rotation holds the setSecret→finishSecret window open: the rotation stops
// rather than running on for a secret that is gone.
func TestForcedDeleteStopsRotation(t *testing.T) {
	tdb := testdb.Postgres(t)
	logger, logged := textLog()
	srv, c := newServer(t, smtest.WithRotationWindow(time.Hour), smtest.WithLogger(logger))
	srv.CreateSecret("app", tdb.SecretJSON())
	rotate(t, c, &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
	waitFor(t, time.Minute, func() bool { return strings.Contains(logged(), "holding the setSecret→finishSecret window open") })

	ok(c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("app"), ForceDeleteWithoutRecovery: aws.Bool(true)}))(t)
	waitFor(t, time.Minute, func() bool { return strings.Contains(logged(), "rotation failed") })
	if out := logged(); !strings.Contains(out, context.Canceled.Error()) {
		t.Fatalf("the rotation did not stop for the deletion:\n%s", out)
	}
}

// TestWaitRotationInAnotherRegion rotates a secret created in a served
// region other than the primary one: WaitRotation and SecretVersions find
// it by name and by ARN.
func TestWaitRotationInAnotherRegion(t *testing.T) {
	tdb, db := sqldbtest.Open(t, testdb.EnginePostgres)
	srv, _ := newServer(t, smtest.WithRegions("eu-west-1"))
	eu := srv.ClientFor("eu-west-1")
	arn := aws.ToString(ok(eu.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("app"), SecretString: aws.String(tdb.SecretJSON())}))(t).ARN)
	for _, id := range []string{"app", arn} {
		token := rotate(t, eu, &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
		wait(t, srv, id)
		if got := srv.SecretVersions(id)[token]; !slices.Equal(got, []string{"AWSCURRENT"}) {
			t.Fatalf("%s: stages of the new version %v", id, got)
		}
	}
	user, password := sqldbtest.SecretCredentials(t, eu, "app", "AWSCURRENT")
	sqldbtest.Login(t, db, user, password, true)
}

func TestRotateSecretFailures(t *testing.T) {
	tdb := testdb.Postgres(t)
	srv, c := newServer(t)
	// AWSCURRENT has a password the database does not accept.
	srv.CreateSecret("app", tdb.SecretJSONFor(tdb.User, "not-the-password"))
	token := rotate(t, c, &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
	err := srv.WaitRotation(t.Context(), "app")
	if err == nil || !strings.Contains(err.Error(), "setSecret of") || !strings.Contains(err.Error(), "cannot log in with AWSCURRENT") {
		t.Fatalf("rotation error %v, want a setSecret failure that says why", err)
	}
	// AWSPENDING stays on the new version, which createSecret filled.
	if d := describe(t, c, "app"); !slices.Equal(d.VersionIdsToStages[token], []string{"AWSPENDING"}) || d.LastRotatedDate != nil {
		t.Fatalf("after the failure: %v, LastRotatedDate %v", d.VersionIdsToStages, d.LastRotatedDate)
	}

	// Once AWSCURRENT is right, the next RotateSecret says a rotation is
	// incomplete and reattempts it, which now succeeds.
	srv.PutSecretString("app", tdb.SecretJSON())
	_, err = c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
	wantErr[*types.InvalidRequestException](t, err)
	wait(t, srv, "app")
	if d := describe(t, c, "app"); !slices.Equal(d.VersionIdsToStages[token], []string{"AWSCURRENT"}) {
		t.Fatalf("after the reattempt: %v", d.VersionIdsToStages)
	}

	// A failure before createSecret stored the value leaves AWSPENDING on
	// an empty version, which GetSecretValue does not find.
	srv.FailNext("PutSecretValue", 1, "InternalServiceError")
	token = rotate(t, c, &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
	if err := srv.WaitRotation(t.Context(), "app"); err == nil || !strings.Contains(err.Error(), "createSecret of") {
		t.Fatalf("rotation error %v, want a createSecret failure", err)
	}
	if d := describe(t, c, "app"); !slices.Equal(d.VersionIdsToStages[token], []string{"AWSPENDING"}) {
		t.Fatalf("after the failure: %v", d.VersionIdsToStages)
	}
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app"), VersionStage: aws.String("AWSPENDING")})
	wantErr[*types.ResourceNotFoundException](t, err)
	// CancelRotateSecret names the incomplete version; taking AWSPENDING
	// off it lets rotations start again.
	out := ok(c.CancelRotateSecret(t.Context(), &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("app")}))(t)
	if aws.ToString(out.VersionId) != token {
		t.Fatalf("CancelRotateSecret VersionId %s, want %s", aws.ToString(out.VersionId), token)
	}
	ok(c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("app"), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(token)}))(t)
	rotate(t, c, &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
	wait(t, srv, "app")
}

func TestRotateSecretParameters(t *testing.T) {
	srv, c := newServer(t)
	secret := `{"engine":"postgres","host":"127.0.0.1","port":1,"username":"u","password":"p"}`
	srv.CreateSecret("app", secret)
	srv.CreateSecret("plain", "not a database secret")
	srv.CreateSecret("oracle", `{"engine":"oracle","host":"h","username":"u","password":"p","dbname":"d"}`)
	ctx := t.Context()
	rules := func(days int64, expr, duration string) *types.RotationRulesType {
		r := &types.RotationRulesType{}
		if days != 0 {
			r.AutomaticallyAfterDays = aws.Int64(days)
		}
		if expr != "" {
			r.ScheduleExpression = aws.String(expr)
		}
		if duration != "" {
			r.Duration = aws.String(duration)
		}
		return r
	}
	for _, tc := range []struct {
		id    string
		rules *types.RotationRulesType
		code  string
	}{
		{"app", rules(0, "cron(0 16 1,15 * ? *)", ""), "ValidationException"},
		{"app", rules(1001, "", ""), "ValidationException"},
		{"app", rules(7, "rate(7 days)", ""), "InvalidParameterException"},
		{"app", rules(0, "rate(2 hours)", ""), "InvalidParameterException"},
		{"app", rules(0, "every day", ""), "InvalidParameterException"},
		{"app", rules(0, "rate(1 day)", "25h"), "InvalidParameterException"},
		{"app", rules(0, "", "2h"), "InvalidParameterException"},
		{"plain", nil, "InvalidRequestException"},
		{"oracle", nil, "InvalidRequestException"},
		{"missing", nil, "ResourceNotFoundException"},
	} {
		_, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(tc.id), RotationRules: tc.rules, RotateImmediately: aws.Bool(false)})
		wantCode(t, err, tc.code)
	}
	if d := describe(t, c, "app"); d.RotationEnabled != nil || len(d.VersionIdsToStages) != 1 {
		t.Fatalf("refused requests changed the secret: %+v", d)
	}

	// RotateImmediately false configures the schedule without rotating.
	before := time.Now().Add(-time.Second)
	out := ok(c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String("app"), RotateImmediately: aws.Bool(false),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:ignored"),
		RotationRules:     rules(0, "rate(10 hours)", "2h"),
	}))(t)
	if out.VersionId != nil {
		t.Fatalf("VersionId %s without a rotation", aws.ToString(out.VersionId))
	}
	d := describe(t, c, "app")
	if d.RotationEnabled == nil || !*d.RotationEnabled || aws.ToString(d.RotationLambdaARN) == "" || len(d.VersionIdsToStages) != 1 || d.LastRotatedDate != nil {
		t.Fatalf("after RotateImmediately=false: %+v", d)
	}
	if r := d.RotationRules; r == nil || aws.ToString(r.ScheduleExpression) != "rate(10 hours)" || aws.ToString(r.Duration) != "2h" {
		t.Fatalf("RotationRules %+v", d.RotationRules)
	}
	if n := d.NextRotationDate; n == nil || n.Before(before.Add(10*time.Hour)) || n.After(time.Now().Add(10*time.Hour)) {
		t.Fatalf("NextRotationDate %v, want 10 hours from now", d.NextRotationDate)
	}
	ok(c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("app"), RotateImmediately: aws.Bool(false), RotationRules: rules(30, "", "")}))(t)
	if d := describe(t, c, "app"); aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 30 || d.NextRotationDate.Before(before.Add(30*24*time.Hour)) {
		t.Fatalf("RotationRules %+v NextRotationDate %v", d.RotationRules, d.NextRotationDate)
	}
	ok(c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("app"), RotateImmediately: aws.Bool(false), RotationRules: rules(0, "rate(3 days)", "")}))(t)
	if d := describe(t, c, "app"); aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 3 {
		t.Fatalf("RotationRules %+v: a rate in days is also shown as AutomaticallyAfterDays", d.RotationRules)
	}
	// Deleted secrets are not rotated.
	ok(c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("app")}))(t)
	_, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
	wantErr[*types.InvalidRequestException](t, err)
}

func TestRotateEvery(t *testing.T) {
	tdb, db := sqldbtest.Open(t, testdb.EnginePostgres)
	srv, c := newServer(t, smtest.WithRotateEvery(100*time.Millisecond))
	srv.CreateSecret("app", tdb.SecretJSON())
	ok(c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("app"), RotateImmediately: aws.Bool(false)}))(t)
	// Bounded wait for two scheduled rotations.
	rotated := func() int {
		n := 0
		for _, v := range ok(c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("app"), IncludeDeprecated: aws.Bool(true)}))(t).Versions {
			if !slices.Contains(v.VersionStages, "AWSPENDING") {
				n++
			}
		}
		return n - 1
	}
	waitFor(t, time.Minute, func() bool { return rotated() >= 2 })
	ok(c.CancelRotateSecret(t.Context(), &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("app")}))(t)
	_ = srv.WaitRotation(t.Context(), "app") // a rotation the cancel stopped may fail
	user, password := sqldbtest.SecretCredentials(t, c, "app", "AWSCURRENT")
	if err := db.Login(t.Context(), user, password); err != nil {
		// The cancel may have stopped a rotation between setSecret and
		// finishSecret: then AWSPENDING works.
		user, password = sqldbtest.SecretCredentials(t, c, "app", "AWSPENDING")
		sqldbtest.Login(t, db, user, password, true)
	}
}

// nonLoopbackIPv4 returns an IPv4 address of this machine that is not a
// loopback one; the test is skipped if there is none.
func nonLoopbackIPv4(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			return p.Addr()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address")
	return netip.Addr{}
}

// countingListener accepts connections on addr and closes them at once,
// counting them, until the test ends.
func countingListener(t *testing.T, addr string) (port int, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port, accepted
}

// TestRotationNetworks rotates secrets that point at a non-loopback address
// of this machine: by default the rotation refuses to connect there
// (*sqldb.AddrError) and nothing reaches the address; WithRotationNetworks
// lets it connect.
func TestRotationNetworks(t *testing.T) {
	ip := nonLoopbackIPv4(t)
	port, accepted := countingListener(t, net.JoinHostPort(ip.String(), "0"))
	remote := fmt.Sprintf(`{"engine":"postgres","host":%q,"port":%d,"username":"app","password":"not a real one"}`, ip, port)
	for _, tc := range []struct {
		name   string
		opts   []smtest.Option
		secret string
	}{
		{name: "default", secret: remote},
		{name: "another network", opts: []smtest.Option{smtest.WithRotationNetworks(netip.MustParsePrefix("198.51.100.0/24"))}, secret: remote},
		{name: "allowed", opts: []smtest.Option{smtest.WithRotationNetworks(netip.PrefixFrom(ip, 32))}, secret: remote},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, logged := textLog()
			srv, c := newServer(t, append(tc.opts, smtest.WithLogger(logger))...)
			srv.CreateSecret("app", tc.secret)
			before := accepted.Load()
			rotate(t, c, &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
			err := srv.WaitRotation(t.Context(), "app")
			if err == nil {
				t.Fatal("the rotation succeeded against a listener that speaks no PostgreSQL")
			}
			reached := accepted.Load() - before
			t.Logf("%d connection(s) reached %s:%d; rotation error: %v", reached, ip, port, err)
			var addrErr *sqldb.AddrError
			if tc.name == "allowed" {
				if reached == 0 || errors.As(err, &addrErr) {
					t.Fatalf("allowed network: %d connections reached the database's address, error %v", reached, err)
				}
				return
			}
			if reached != 0 {
				t.Fatalf("%d connection(s) reached %s:%d, outside the allowed networks", reached, ip, port)
			}
			if !errors.As(err, &addrErr) || addrErr.Addr.Addr() != ip {
				t.Fatalf("rotation error %v, want a *sqldb.AddrError for %s", err, ip)
			}
			if out := logged(); !strings.Contains(out, "WithRotationNetworks (secretsql emulator --rotation-network)") {
				t.Fatalf("the log does not say how to allow the address:\n%s", out)
			}
		})
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

// TestRotateSecretAdminSecretPort rotates alternating users whose admin
// secret names another port of the same host (a forwarder to the
// database): the admin logs in there, as with AWS's templates, not at the
// port of the secret being rotated.
func TestRotateSecretAdminSecretPort(t *testing.T) {
	for _, engine := range testdb.Engines() {
		t.Run(engine, func(t *testing.T) {
			tdb, db := sqldbtest.Open(t, engine)
			srv, c := newServer(t)
			var admin testdb.Secret
			if err := json.Unmarshal([]byte(tdb.AdminSecretJSON()), &admin); err != nil {
				t.Fatal(err)
			}
			port, accepted := forwarder(t, net.JoinHostPort(admin.Host, fmt.Sprint(admin.Port)))
			admin.Port = port
			adminJSON, err := json.Marshal(admin)
			if err != nil {
				t.Fatal(err)
			}
			srv.CreateSecret("app", sqldbtest.WithMaster(tdb.SecretJSON(), srv.CreateSecret("admin", string(adminJSON))))
			rotate(t, c, &secretsmanager.RotateSecretInput{SecretId: aws.String("app")})
			wait(t, srv, "app")
			if accepted.Load() == 0 {
				t.Fatalf("no connection reached port %d of the admin secret: the admin logged in at port %d of the rotated secret", port, db.Port)
			}
			user, password := sqldbtest.SecretCredentials(t, c, "app", "AWSCURRENT")
			sqldbtest.Login(t, db, user, password, true)
		})
	}
}
