package reliability

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/secretsql/secretsql"
	secretsqlmysql "github.com/secretsql/secretsql/engines/mysql"
	secretsqlpg "github.com/secretsql/secretsql/engines/postgres"
	"github.com/secretsql/secretsql/iamtest"
	"github.com/secretsql/secretsql/internal/testdb"
)

// sentinelPassword returns a password that is easy to find in any output:
// a marker, 16 random letters, and characters that URL and query escaping
// change (so that the escaped forms are searched for too).
func sentinelPassword() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 16)
	crand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "Snt1" + string(b) + "@/ ?&%x'\"\\"
}

// harness collects everything secretsql says: log records (text and JSON
// handlers, and every attribute value formatted with fmt), observer events
// and any value the test adds.
type harness struct {
	mu      sync.Mutex
	outputs []string // everything to search
	kinds   map[secretsql.EventKind]int
	logBuf  bytes.Buffer
	label   string         // the engine being exercised
	walked  map[string]int // error values walked, by label
}

func newHarness() *harness {
	return &harness{kinds: map[secretsql.EventKind]int{}, walked: map[string]int{}}
}

// setLabel names the engine whose errors are added next.
func (h *harness) setLabel(l string) {
	h.mu.Lock()
	h.label = l
	h.mu.Unlock()
}

// add records the fmt forms of v; for errors, of every error it wraps, and
// of every exported field of each (a caller may log errors.As's result and
// its fields: pgx's *pgconn.ConnectError holds the connect's Config).
func (h *harness) add(vs ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range vs {
		if v == nil {
			continue
		}
		h.outputs = append(h.outputs, fmtForms(v)...)
		if err, ok := v.(error); ok {
			for _, e := range append([]error{err}, unwrapAll(err)...) {
				h.walked[h.label]++
				h.outputs = append(h.outputs, fmtForms(e)...)
				h.outputs = append(h.outputs, fieldForms(e)...)
			}
		}
	}
}

// fieldForms returns %+v of every exported field of the struct that v is or
// points to, pointers followed.
func fieldForms(v any) []string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range rv.NumField() {
		if !rv.Type().Field(i).IsExported() {
			continue
		}
		f := rv.Field(i)
		for (f.Kind() == reflect.Pointer || f.Kind() == reflect.Interface) && !f.IsNil() {
			f = f.Elem()
		}
		if f.CanInterface() {
			out = append(out, fmt.Sprintf("%+v", f.Interface()), fmt.Sprintf("%#v", f.Interface()))
		}
	}
	return out
}

func fmtForms(v any) []string {
	out := []string{fmt.Sprint(v)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out = append(out, fmt.Sprintf(verb, v))
	}
	if err, ok := v.(error); ok {
		out = append(out, err.Error())
	}
	return out
}

func unwrapAll(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		var next []error
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			next = []error{u.Unwrap()}
		case interface{ Unwrap() []error }:
			next = u.Unwrap()
		}
		for _, w := range next {
			if w != nil {
				out = append(out, w)
				walk(w)
			}
		}
	}
	walk(err)
	return out
}

func (h *harness) observe(ev secretsql.Event) {
	h.add(ev, &ev, ev.Err)
	h.mu.Lock()
	h.kinds[ev.Kind]++
	h.mu.Unlock()
}

func (h *harness) options() []secretsql.Option {
	return []secretsql.Option{
		secretsql.WithLogger(slog.New(&captureHandler{h: h})),
		secretsql.WithObserver(h.observe),
	}
}

// check fails the test if any output holds a password or its escaped
// forms.
func (h *harness) check(t *testing.T, passwords ...string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	all := append(append([]string(nil), h.outputs...), h.logBuf.String())
	for _, pw := range passwords {
		forms := []string{pw, url.QueryEscape(pw), url.PathEscape(pw), fmt.Sprintf("%q", pw)[1 : len(fmt.Sprintf("%q", pw))-1],
			(&url.URL{User: url.UserPassword("u", pw)}).String()[len("//u:") : len("//u:")+len(url.UserPassword("u", pw).String())-2]}
		for _, out := range all {
			for _, f := range forms {
				if f != "" && strings.Contains(out, f) {
					t.Errorf("output reveals a password (as %q): %s", f, out)
				}
			}
		}
	}
}

// captureHandler writes each record through a text and a JSON handler into
// the harness, and adds the fmt forms of every attribute value.
type captureHandler struct {
	h     *harness
	attrs []slog.Attr
	group string
}

func (c *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (c *captureHandler) Handle(ctx context.Context, r slog.Record) error {
	c.h.mu.Lock()
	var hs []slog.Handler
	for _, base := range []slog.Handler{
		slog.NewTextHandler(&c.h.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}),
		slog.NewJSONHandler(&c.h.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}),
	} {
		base = base.WithAttrs(c.attrs)
		if c.group != "" {
			base = base.WithGroup(c.group)
		}
		hs = append(hs, base)
	}
	for _, hh := range hs {
		_ = hh.Handle(ctx, r)
	}
	c.h.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		c.h.add(a.Value.Resolve().Any())
		return true
	})
	return nil
}

func (c *captureHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &captureHandler{h: c.h, attrs: append(append([]slog.Attr(nil), c.attrs...), as...), group: c.group}
}

func (c *captureHandler) WithGroup(name string) slog.Handler {
	return &captureHandler{h: c.h, attrs: c.attrs, group: name}
}

// TestRedaction runs the scenarios of the suite with sentinel passwords and
// searches every error, log record, event and fmt output for them.
func TestRedaction(t *testing.T) {
	h := newHarness()
	var passwords []string
	sentinel := func() string {
		pw := sentinelPassword()
		passwords = append(passwords, pw)
		return pw
	}
	srv := newSM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	opts := append(h.options(), secretsql.WithMinRefreshInterval(0), secretsql.WithRetry(3, 5*time.Millisecond))

	var conns []*secretsql.Connector
	open := func(engine, dsn string, extra ...secretsql.Option) *sql.DB {
		t.Helper()
		c, err := secretsql.NewConnector(engine, dsn, append(append([]secretsql.Option{secretsql.WithClient(srv.Client())}, opts...), extra...)...)
		if err != nil {
			h.add(err)
			t.Fatalf("NewConnector(%s): %v", engine, err)
		}
		conns = append(conns, c)
		db := sql.OpenDB(c)
		db.SetMaxIdleConns(0) // every ping logs in
		t.Cleanup(func() { db.Close() })
		return db
	}
	// record adds what a connector shows: Resolve's result and error,
	// the Connector and its Driver.
	record := func(db *sql.DB, c *secretsql.Connector) {
		r, err := c.Resolve(ctx)
		h.add(r, &r, r.Credentials, &r.Credentials, err, db.Driver())
	}
	mustPing := func(db *sql.DB) {
		t.Helper()
		if err := db.PingContext(ctx); err != nil {
			h.add(err)
			t.Fatalf("ping: %v", err)
		}
	}
	failPing := func(db *sql.DB, want error) {
		t.Helper()
		err := db.PingContext(ctx)
		h.add(err)
		if !errors.Is(err, want) {
			t.Errorf("ping: %v, want %v", err, want)
		}
	}

	for _, engine := range []string{testdb.EnginePostgres, testdb.EngineMariaDB} {
		h.setLabel(engine)
		tdb := testdb.Open(t, engine)
		pw := sentinel()
		if err := tdb.SetPassword(ctx, tdb.User, pw); err != nil {
			t.Fatal(err)
		}
		drv := engine
		// Successful connect.
		name := uniqueName(t)
		srv.CreateSecret(name, tdb.SecretJSONFor(tdb.User, pw))
		db := open(drv, name)
		mustPing(db)
		record(db, conns[len(conns)-1])

		// Rotation: the database takes AWSPENDING's password while
		// AWSCURRENT still has the old one, then finishSecret.
		pw2 := sentinel()
		srv.PutSecretString(name, tdb.SecretJSONFor(tdb.User, pw2), secretsql.StagePending)
		if err := tdb.SetPassword(ctx, tdb.User, pw2); err != nil {
			t.Fatal(err)
		}
		mustPing(db)
		pw3 := sentinel()
		putCurrent(t, srv, name, tdb.SecretJSONFor(tdb.User, pw3))
		if err := tdb.SetPassword(ctx, tdb.User, pw3); err != nil {
			t.Fatal(err)
		}
		mustPing(db)
		record(db, conns[len(conns)-1])

		// Wrong password.
		wrong := uniqueName(t)
		srv.CreateSecret(wrong, tdb.SecretJSONFor(tdb.User, sentinel()))
		failPing(open(drv, wrong), secretsql.ErrAuthFailed)

		// Stale on error: a background refresh fails, the cached value
		// stays in use.
		stale := uniqueName(t)
		srv.CreateSecret(stale, tdb.SecretJSONFor(tdb.User, pw3))
		sdb := open(drv, stale+"?ttl=1s")
		mustPing(sdb)
		time.Sleep(1100 * time.Millisecond)
		h.mu.Lock()
		staleBefore := h.kinds[secretsql.EventStaleServed] // the loop's earlier engines count too
		h.mu.Unlock()
		srv.FailNext(getOp, 1, "ThrottlingException")
		mustPing(sdb) // starts the refresh that fails
		// Wait for this refresh to take the injected failure, or a later
		// fetch of another secret would.
		waitFor(t, 5*time.Second, func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.kinds[secretsql.EventStaleServed] > staleBefore
		})
	}

	// Malformed secrets that hold a password.
	h.setLabel("postgres")
	for _, raw := range []string{
		`{"engine":"postgres","host":"h","username":"u","password":"` + jsonEsc(sentinel()) + `",`,
		`{"engine":"postgres","host":"h","username":"u","password":` + strings.Trim(jsonEsc(sentinel()), `"`) + `}`,
		`{"engine":"postgres","host":"h","port":"5432` + jsonEsc(sentinel()) + `","username":"u","password":"x"}`,
		`{"engine":"postgres","host":"h","username":"u","password":["` + jsonEsc(sentinel()) + `"]}`,
		`["` + jsonEsc(sentinel()) + `"]`,
		sentinel(),
	} {
		name := uniqueName(t)
		srv.CreateSecret(name, raw)
		failPing(open("postgres", name), secretsql.ErrMalformedSecret)
	}

	// Engine mismatch.
	mm := uniqueName(t)
	srv.CreateSecret(mm, `{"engine":"mysql","host":"127.0.0.1","username":"u","password":"`+jsonEsc(sentinel())+`"}`)
	failPing(open("postgres", mm), secretsql.ErrEngineMismatch)

	// Fetch errors on a secret that holds a password.
	fe := uniqueName(t)
	srv.CreateSecret(fe, `{"engine":"postgres","host":"127.0.0.1","port":1,"username":"u","password":"`+jsonEsc(sentinel())+`"}`)
	for _, f := range []struct {
		code string
		want error
	}{
		{"ThrottlingException", secretsql.ErrThrottled},
		{"DecryptionFailure", secretsql.ErrDecryption},
		{"InternalServiceError", secretsql.ErrSecretsManager},
	} {
		srv.FailNext(getOp, 1, f.code)
		failPing(open("postgres", fe), f.want)
	}
	srv.Deny(fe)
	failPing(open("postgres", fe), secretsql.ErrAccessDenied)
	srv.Allow()
	failPing(open("postgres", "rel/no-such-secret"), secretsql.ErrSecretNotFound)
	del := uniqueName(t)
	srv.CreateSecret(del, `{"engine":"postgres","host":"127.0.0.1","port":1,"username":"u","password":"`+jsonEsc(sentinel())+`"}`)
	deleteSecret(t, srv, del)
	failPing(open("postgres", del), secretsql.ErrSecretDeleted)

	// SQL Server and Oracle: construction errors and refused connections,
	// no server needed.
	for _, tc := range []struct{ engine, secret string }{
		{"sqlserver", `{"engine":"sqlserver","host":"bad host!","username":"sa","password":"%s"}`},
		{"sqlserver", `{"engine":"sqlserver","host":"127.0.0.1","port":1,"username":"sa","password":"%s"}`},
		{"sqlserver", `{"engine":"sqlserver","host":"127.0.0.1","port":1,"username":"sa:x@y/z","password":"%s","dbname":"d?b#c"}`},
		{"oracle", `{"engine":"oracle","host":"127.0.0.1","port":1,"username":"app","password":"%s"}`},
		{"oracle", `{"engine":"oracle","host":"127.0.0.1","port":1,"username":"app","password":"%s","dbname":"ORCL"}`},
		{"oracle", `{"engine":"oracle","host":"bad host","port":1,"username":"app","password":"%s","dbname":"ORCL"}`},
		{"postgres", `{"engine":"postgres","host":"127.0.0.1","port":1,"username":"app","password":"%s"}`},
		{"mysql", `{"engine":"mysql","host":"127.0.0.1","port":1,"username":"app","password":"%s"}`},
	} {
		h.setLabel(tc.engine)
		name := uniqueName(t)
		srv.CreateSecret(name, fmt.Sprintf(tc.secret, jsonEsc(sentinel())))
		db := open(tc.engine, name+"?"+connectTimeout(tc.engine))
		err := ping(db, 5*time.Second)
		h.add(err)
		if err == nil {
			t.Errorf("%s: ping succeeded against %s", tc.engine, tc.secret)
		}
		record(db, conns[len(conns)-1])
	}

	// The harness saw the paths it is meant to check.
	h.mu.Lock()
	for _, k := range []secretsql.EventKind{secretsql.EventFetch, secretsql.EventFetchFailed, secretsql.EventAuthFailed, secretsql.EventPendingAdopted, secretsql.EventStaleServed} {
		if h.kinds[k] == 0 {
			t.Errorf("no %v event was observed", k)
		}
	}
	if !strings.Contains(h.logBuf.String(), "pending_adopted") {
		t.Errorf("no pending_adopted log record")
	}
	h.mu.Unlock()

	for _, c := range conns {
		c.Close()
	}
	// The fmt forms of *Connector are checked by TestBugConnectorFormat
	// (bugs_test.go) until the Connector formats itself.
	h.check(t, passwords...)
	h.mu.Lock()
	t.Logf("error values walked (each with %%v, %%+v, %%#v, %%s, %%q and its exported fields): %v", h.walked)
	for _, e := range []string{"postgres", "mariadb", "mysql", "sqlserver", "oracle"} {
		if h.walked[e] == 0 {
			t.Errorf("no error of %s was walked", e)
		}
	}
	h.mu.Unlock()
}

func connectTimeout(engine string) string {
	switch engine {
	case "postgres":
		return "connect_timeout=3"
	case "mysql", "mariadb":
		return "timeout=3s"
	case "sqlserver":
		return "dial+timeout=3"
	}
	return ""
}

// jsonEsc returns s as the inside of a JSON string.
func jsonEsc(s string) string {
	q := fmt.Sprintf("%q", s) // Go quoting is JSON-compatible for ASCII
	return q[1 : len(q)-1]
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedactionHooks runs the native-pool hooks — the pgx hook
// (engines/postgres: pgx.ConnectConfig after BeforeConnect, pgxpool,
// stdlib.OptionBeforeConnect) and the mysql hook (engines/mysql:
// Hook.Connector and Hook.Option) — through the harness: successful
// logins, two rotations (AWSPENDING, then a new AWSCURRENT) that the hooks
// retry, a wrong password and a refused connection. Every error, with
// what it wraps and the exported fields of each (pgx's
// ConnectError.Config), the configurations of the connections made, the
// hooks' Resolve, their log records and events are searched for the
// passwords.
func TestRedactionHooks(t *testing.T) {
	h := newHarness()
	var passwords []string
	sentinel := func() string {
		pw := sentinelPassword()
		passwords = append(passwords, pw)
		return pw
	}
	srv := newSM(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(h.options(), secretsql.WithClient(srv.Client()), secretsql.WithMinRefreshInterval(0), secretsql.WithRetry(3, 5*time.Millisecond))

	// newSecret stores a secret for tdb's user with a sentinel password,
	// which the database takes if set is true.
	newSecret := func(tdb *testdb.DB, set bool) string {
		t.Helper()
		pw := sentinel()
		if set {
			if err := tdb.SetPassword(ctx, tdb.User, pw); err != nil {
				t.Fatal(err)
			}
		}
		name := uniqueName(t)
		srv.CreateSecret(name, tdb.SecretJSONFor(tdb.User, pw))
		return name
	}
	// rotations: a login, then the database takes AWSPENDING's password
	// (the setSecret→finishSecret window), then a new AWSCURRENT's; the
	// hooks must log in through each with one connect.
	rotations := []struct {
		name string
		next func(tdb *testdb.DB, secret string)
	}{
		{"login", func(*testdb.DB, string) {}},
		{"rotation_pending", func(tdb *testdb.DB, secret string) {
			pw := sentinel()
			srv.PutSecretString(secret, tdb.SecretJSONFor(tdb.User, pw), secretsql.StagePending)
			if err := tdb.SetPassword(ctx, tdb.User, pw); err != nil {
				t.Fatal(err)
			}
		}},
		{"rotation_current", func(tdb *testdb.DB, secret string) {
			pw := sentinel()
			putCurrent(t, srv, secret, tdb.SecretJSONFor(tdb.User, pw))
			if err := tdb.SetPassword(ctx, tdb.User, pw); err != nil {
				t.Fatal(err)
			}
		}},
	}
	check := func(what string, err error, fail bool) {
		t.Helper()
		h.add(err)
		if fail != (err != nil) {
			t.Errorf("%s: err = %v, want failure %v", what, err, fail)
		}
	}

	// The pgx hook.
	h.setLabel("pgx hook")
	pgdb := testdb.Postgres(t)
	pgHook := func(secret string) *secretsqlpg.Hook {
		t.Helper()
		hook, err := secretsqlpg.NewHook(secret, opts...)
		if err != nil {
			h.add(err)
			t.Fatal(err)
		}
		t.Cleanup(func() { hook.Close() })
		return hook
	}
	pgxWays := func(what string, hook *secretsqlpg.Hook, connString string, fail bool) {
		t.Helper()
		// pgx.ConnectConfig after BeforeConnect.
		cfg, err := pgx.ParseConfig(connString)
		if err != nil {
			t.Fatal(err)
		}
		if err := hook.BeforeConnect(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		h.add(cfg)
		conn, err := pgx.ConnectConfig(ctx, cfg)
		check(what+" via pgx.ConnectConfig", err, fail)
		if err == nil {
			h.add(conn.Config(), conn.PgConn())
			conn.Close(ctx)
		}
		// pgxpool.
		pcfg, err := pgxpool.ParseConfig(connString)
		if err != nil {
			t.Fatal(err)
		}
		hook.Configure(pcfg)
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := pool.Acquire(ctx)
		check(what+" via pgxpool", err, fail)
		if err == nil {
			h.add(pc.Conn().Config(), pool.Config())
			pc.Release()
		}
		pool.Close()
		// database/sql with stdlib.OptionBeforeConnect.
		scfg, err := pgx.ParseConfig(connString)
		if err != nil {
			t.Fatal(err)
		}
		sdb := stdlib.OpenDB(*scfg, stdlib.OptionBeforeConnect(hook.BeforeConnect))
		sc, err := sdb.Conn(ctx)
		check(what+" via stdlib.OptionBeforeConnect", err, fail)
		if err == nil {
			_ = sc.Raw(func(dc any) error {
				h.add(dc.(*stdlib.Conn).Conn().Config())
				return nil
			})
			sc.Close()
		}
		sdb.Close()
	}
	var hooks []*secretsqlpg.Hook
	for _, params := range []string{"sslmode=disable", "sslmode=require channel_binding=require"} {
		// A secret and a hook for each round: the rotations leave
		// AWSPENDING on a version the database no longer takes.
		good := newSecret(pgdb, true)
		hook, wrong := pgHook(good), pgHook(newSecret(pgdb, false))
		hooks = append(hooks, hook, wrong)
		cs := fmt.Sprintf("host=%s port=%d dbname=%s connect_timeout=5 %s", pgdb.Host, pgdb.Port, pgdb.Database, params)
		for _, r := range rotations {
			r.next(pgdb, good)
			pgxWays("pgx hook, "+params+", "+r.name, hook, cs, false)
		}
		if st := hook.Stats(); st.Retries < 2 || st.AuthFailures != st.Retries {
			t.Errorf("pgx hook, %s: stats %+v: both rotations must be retried inside the connect", params, st)
		}
		pgxWays("pgx hook, "+params+", wrong password", wrong, cs, true)
		if st := wrong.Stats(); st.AuthFailures == 0 {
			t.Errorf("pgx hook on a wrong password, %s: stats %+v", params, st)
		}
	}
	pgxWays("pgx hook, refused", hooks[0], fmt.Sprintf("host=127.0.0.1 port=1 dbname=%s connect_timeout=5 sslmode=disable", pgdb.Database), true)
	for _, hk := range hooks {
		r, err := hk.Resolve(ctx)
		h.add(r, &r, r.Credentials, &r.Credentials, err, hk.Stats())
	}

	// The mysql hook.
	h.setLabel("mysql hook")
	mydb := testdb.MariaDB(t)
	myHook := func(secret string) *secretsqlmysql.Hook {
		t.Helper()
		hook, err := secretsqlmysql.NewHook(secret, opts...)
		if err != nil {
			h.add(err)
			t.Fatal(err)
		}
		t.Cleanup(func() { hook.Close() })
		return hook
	}
	// mysqlWays connects with Hook.Connector and, if option is set, with
	// Hook.Option alone (which cannot retry a rotation's rejected login),
	// passing its error to ReportError.
	mysqlWays := func(what string, hook *secretsqlmysql.Hook, addr string, fail, option bool) {
		t.Helper()
		newCfg := func() *gomysql.Config {
			cfg := gomysql.NewConfig()
			cfg.Net, cfg.Addr, cfg.DBName, cfg.Timeout = "tcp", addr, mydb.Database, 5*time.Second
			return cfg
		}
		cfg := newCfg()
		c, err := hook.Connector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		conn, err := db.Conn(ctx)
		check(what+" via Hook.Connector", err, fail)
		if err == nil {
			_ = conn.Raw(func(dc any) error { h.add(dc); return nil })
			conn.Close()
		}
		h.add(cfg, c, db.Driver())
		db.Close()
		if !option {
			return
		}
		cfg = newCfg()
		if err := cfg.Apply(hook.Option()); err != nil {
			t.Fatal(err)
		}
		nc, err := gomysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		db = sql.OpenDB(nc)
		err = db.PingContext(ctx)
		if err != nil {
			hook.ReportError(ctx, err)
		}
		check(what+" via Hook.Option", err, fail)
		h.add(cfg, nc)
		db.Close()
	}
	addr := fmt.Sprintf("%s:%d", mydb.Host, mydb.Port)
	good := newSecret(mydb, true)
	mhook := myHook(good)
	mwrong := myHook(newSecret(mydb, false))
	for _, r := range rotations {
		r.next(mydb, good)
		mysqlWays("mysql hook, "+r.name, mhook, addr, false, r.name == "login")
	}
	mysqlWays("mysql hook, wrong password", mwrong, addr, true, true)
	mysqlWays("mysql hook, refused", mhook, "127.0.0.1:1", true, true)
	for _, hk := range []*secretsqlmysql.Hook{mhook, mwrong} {
		r, err := hk.Resolve(ctx)
		h.add(r, &r, r.Credentials, &r.Credentials, err, hk.Stats())
	}
	if st := mhook.Stats(); st.Retries < 2 {
		t.Errorf("mysql hook stats %+v: every rotation must be retried", st)
	}

	h.mu.Lock()
	for _, k := range []secretsql.EventKind{secretsql.EventFetch, secretsql.EventAuthFailed, secretsql.EventPendingAdopted} {
		if h.kinds[k] == 0 {
			t.Errorf("no %v event was observed", k)
		}
	}
	t.Logf("error values walked (each with %%v, %%+v, %%#v, %%s, %%q and its exported fields): %v", h.walked)
	for _, e := range []string{"pgx hook", "mysql hook"} {
		if h.walked[e] == 0 {
			t.Errorf("no error of the %s was walked", e)
		}
	}
	h.mu.Unlock()
	h.check(t, passwords...)
}

// TestRedactionSources runs the harness over the sources that are not the
// GetSecretValue API: a mounted file (a login, a rotation the file follows,
// a half-written file, a wrong password) and RDS IAM tokens (a login, a
// token expired by the verifier and signed again, a user without IAM
// authentication). No password or token may appear in an error, an event,
// a log record, a Resolved or a Connector.
func TestRedactionSources(t *testing.T) {
	h := newHarness()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var secrets []string
	opts := append(h.options(), secretsql.WithRetry(3, 5*time.Millisecond))
	ping := func(engine, dsn string, want error, extra ...secretsql.Option) {
		t.Helper()
		cache := secretsql.NewCache() // each case reads anew
		defer cache.Close()
		c, err := secretsql.NewConnector(engine, dsn, append(append([]secretsql.Option{secretsql.WithCache(cache)}, opts...), extra...)...)
		if err != nil {
			h.add(err)
			t.Fatalf("NewConnector(%s): %v", dsn, err)
		}
		db := sql.OpenDB(c)
		defer db.Close()
		err = db.PingContext(ctx)
		h.add(err, c, db.Driver())
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("%s: ping: %v, want %v", dsn, err, want)
		}
		r, err := c.Resolve(ctx)
		h.add(r, &r, r.Credentials, err)
		if pw := r.Credentials.Password(); pw != "" {
			secrets = append(secrets, pw)
		}
	}

	// A mounted file.
	h.setLabel("file")
	tdb := testdb.Postgres(t)
	pw := sentinelPassword()
	secrets = append(secrets, pw)
	if err := tdb.SetPassword(ctx, tdb.User, pw); err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/secret.json"
	write := func(v string) {
		if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(tdb.SecretJSONFor(tdb.User, pw))
	ping("postgres", "file:"+path, nil)
	write(tdb.SecretJSONFor(tdb.User, pw)[:40]) // half-written
	ping("postgres", "file:"+path, secretsql.ErrMalformedSecret)
	wrong := sentinelPassword()
	secrets = append(secrets, wrong)
	write(tdb.SecretJSONFor(tdb.User, wrong))
	ping("postgres", "file:"+path, secretsql.ErrAuthFailed)

	// RDS IAM tokens.
	h.setLabel("iam")
	key := iamtest.AddKey(t, iamtest.AccessKey{Region: "us-east-1", Lifetime: time.Second})
	secrets = append(secrets, key.SecretAccessKey)
	dsn, _ := iamTarget(t, testdb.EnginePostgres, "iam")
	ping("postgres", dsn, nil, secretsql.WithAWSConfig(staticAWS(key)))
	// A token the verifier no longer accepts (its lifetime of 1 s passed):
	// rejected, signed again inside the connect.
	iamDB, iamConn := func() (*sql.DB, *secretsql.Connector) {
		c, err := secretsql.NewConnector("postgres", dsn, append(append([]secretsql.Option{}, opts...), secretsql.WithAWSConfig(staticAWS(key)))...)
		if err != nil {
			t.Fatal(err)
		}
		return sql.OpenDB(c), c
	}()
	defer iamDB.Close()
	iamDB.SetMaxIdleConns(0)
	for range 2 {
		err := iamDB.PingContext(ctx)
		h.add(err)
		if err != nil {
			t.Errorf("iam ping: %v", err)
		}
		if r, err := iamConn.Resolve(ctx); err == nil {
			secrets = append(secrets, r.Credentials.Password())
		}
		time.Sleep(1500 * time.Millisecond)
	}
	h.mu.Lock()
	rejected := h.kinds[secretsql.EventAuthFailed]
	h.mu.Unlock()
	if rejected == 0 {
		t.Error("no expired token was rejected")
	}
	noIAM := "iam://" + tdb.User + "@127.0.0.1:5432/" + tdb.Database + "?region=us-east-1"
	ping("postgres", noIAM, secretsql.ErrAuthFailed, secretsql.WithAWSConfig(staticAWS(key)))
	h.check(t, secrets...)
}
