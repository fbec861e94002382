package cli

import (
	"database/sql"
	"fmt"
	"net/http"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/internal/rotation/sqldb/sqldbtest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// currentCredentials reads the user and password of AWSCURRENT.
func currentCredentials(t *testing.T, e *emulator, id string) (user, password string) {
	t.Helper()
	return sqldbtest.SecretCredentials(t, e.env.client(http.DefaultTransport), id, "AWSCURRENT")
}

var failedLog = regexp.MustCompile(`rotation failed.*secret=dev/bad.*step=setSecret.*cannot log in with AWSCURRENT`)

func TestRotateCommand(t *testing.T) {
	tdb, db := sqldbtest.Open(t, testdb.EnginePostgres)
	e := startEmulator(t, "--addr", "127.0.0.1:0", "--seed", writeSeed(t, map[string]string{
		"dev/app": tdb.SecretJSON(),
		"dev/bad": tdb.SecretJSONFor(tdb.User, "not-the-password"),
	}))
	isolateEnv(t, e.env.pairs())

	r := cli(t, []string{tdb.Password}, "rotate", "dev/app")
	wantCode(t, r, exitOK)
	wantContains(t, r, "rotation of dev/app started", "rotated dev/app", "is AWSCURRENT")
	user, password := currentCredentials(t, e, "dev/app")
	sqldbtest.Login(t, db, user, password, true)
	sqldbtest.Login(t, db, user, tdb.Password, false)

	r = cli(t, nil, "rotate", "dev/missing")
	wantCode(t, r, exitUnreadable)
	wantContains(t, r, "ResourceNotFoundException")
	// A rotation that cannot log in never completes: rotate says so at its
	// timeout, and the emulator's log says why.
	r = cli(t, nil, "rotate", "dev/bad", "--timeout", "1s")
	wantCode(t, r, exitInternal)
	wantContains(t, r, "still AWSPENDING")
	waitFor(t, time.Minute, func() bool { return failedLog.MatchString(e.errOut.String()) },
		func() string { return "the emulator's log does not say why:\n" + e.errOut.String() })
	r = cli(t, nil, "rotate", "--no-wait", "dev/app")
	wantCode(t, r, exitOK)
	wantContains(t, r, "rotation of dev/app started")
}

// TestApplicationSurvivesRotations is the rehearsal of the README: an
// application on secretsmanager-postgres (a connector from NewConnector,
// the same driver as sql.Open's), configured only by the exports of
// `secretsql emulator --rotation-window 2s`, runs 50 workers while
// `aws secretsmanager rotate-secret` rotates its single user's password
// three times.
func TestApplicationSurvivesRotations(t *testing.T) {
	tdb, sdb := sqldbtest.Open(t, testdb.EnginePostgres)
	e := startEmulator(t, "--addr", "127.0.0.1:0", "--rotation-window", "2s",
		"--seed", writeSeed(t, map[string]string{"dev/app": tdb.SecretJSON()}))
	isolateEnv(t, e.env.pairs())
	cliSession := newAWSSession(t, e)

	// What secretsql saw, for the log: rejected logins and AWSPENDING used
	// during the windows.
	var events [secretsql.EventStaleServed + 1]atomic.Int64
	c, err := secretsql.NewConnector("postgres", "dev/app?sslmode=disable",
		secretsql.WithObserver(func(ev secretsql.Event) { events[ev.Kind].Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxLifetime(100 * time.Millisecond) // new logins all the time

	load := testdb.StartLoad(50, testdb.SelectOne(db))
	defer load.Stop()
	// progress waits (bounded) for n more queries: the workers run before,
	// between and after the rotations.
	progress := func(n int64) {
		t.Helper()
		target := load.Queries() + n
		waitFor(t, time.Minute, func() bool { return load.Queries() >= target },
			func() string { return fmt.Sprintf("the workers made no progress (%d queries)", load.Queries()) })
	}
	progress(500)
	for range 3 {
		waitCurrent(t, e, "dev/app", str(cliSession.ok("rotate-secret", "--secret-id", "dev/app"), "VersionId"))
		progress(500)
	}
	failures := load.Stop()
	t.Logf("%d queries by 50 workers across 3 rotations with a 2 s window: %d failed; secretsql events: %d fetches, %d rejected logins, %d AWSPENDING adopted",
		load.Queries(), len(failures), events[secretsql.EventFetch].Load(), events[secretsql.EventAuthFailed].Load(), events[secretsql.EventPendingAdopted].Load())
	for _, f := range failures[:min(len(failures), 5)] {
		t.Errorf("query failed (%d in all): %v", len(failures), f.Err)
	}
	user, password := currentCredentials(t, e, "dev/app")
	sqldbtest.Login(t, sdb, user, password, true)
	sqldbtest.Login(t, sdb, user, tdb.Password, false)
}

// TestEmulatorRotateEvery seeds an application secret, its admin secret
// (alternating users) and a plain one with --rotate-every: only the
// application's rotates, on schedule.
func TestEmulatorRotateEvery(t *testing.T) {
	tdb, db := sqldbtest.Open(t, testdb.EnginePostgres)
	app := sqldbtest.WithMaster(tdb.SecretJSON(), "lab/admin")
	e := startEmulator(t, "--addr", "127.0.0.1:0", "--rotate-every", "100ms", "--seed", writeSeed(t, map[string]string{
		"lab/app": app, "lab/admin": tdb.AdminSecretJSON(), "lab/note": `"not a database secret"`,
	}))
	wantContains(t, result{stdout: e.out.String()}, "# rotation of lab/app enabled",
		"# not rotated on schedule: lab/admin: it is an admin secret", "# not rotated on schedule: lab/note:")
	// Bounded wait for the rotation back to the original user: the clone
	// first, then the user with a new password.
	waitFor(t, time.Minute, func() bool {
		user, password := currentCredentials(t, e, "lab/app")
		return user == tdb.User && password != tdb.Password
	}, func() string { return "no two scheduled rotations:\n" + e.errOut.String() })
	// Stop the schedule before logging in, lest the next rotations change
	// the password meanwhile. A rotation that the cancel interrupts only
	// changes the other user: AWSCURRENT's credentials keep working.
	c := e.env.client(http.DefaultTransport)
	if _, err := c.CancelRotateSecret(t.Context(), &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("lab/app")}); err != nil {
		t.Fatal(err)
	}
	user, password := currentCredentials(t, e, "lab/app")
	sqldbtest.Login(t, db, user, password, true)
	admin, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("lab/admin")})
	if err != nil || len(admin.VersionIdsToStages) != 1 || admin.RotationEnabled != nil {
		t.Fatalf("the admin secret changed: %+v, %v", admin, err)
	}
}
