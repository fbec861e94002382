// Package testdb gives integration tests throwaway databases and login users
// on the local PostgreSQL and MariaDB servers prepared by scripts/testbed.sh.
//
// Each call to [Postgres] or [MariaDB] creates a fresh database and a fresh
// login user with random names and a hostile random password (see
// [RandomPassword]), and drops both at the end of the test:
//
//	db := testdb.Postgres(t)
//	secret := db.SecretJSON() // {"engine":"postgres","host":"127.0.0.1",...}
//	err := db.Login(ctx, db.User, db.Password)
//
// On PostgreSQL the users are members of the group role secretsql_test, for
// which testbed.sh puts scram-sha-256 rules first in pg_hba.conf: they really
// log in by password, although the rest of the test bed trusts everyone.
//
// When a server cannot be reached the test is skipped, or fails when the
// environment variable CI is "true" (see [Require]).
//
// A [DB] satisfies the Database interface of internal/rotation.
package testdb

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// Engine names, as used in [DB.Engine], in secret JSON and by [Require].
const (
	EnginePostgres = "postgres"
	EngineMariaDB  = "mariadb"
)

// Connection parameters of the test bed.
const (
	// Host is the address both servers listen on.
	Host = "127.0.0.1"
	// PostgresPort is PostgreSQL's TCP port.
	PostgresPort = 5432
	// MariaDBPort is MariaDB's TCP port.
	MariaDBPort = 3306
	// PostgresGroup is the NOLOGIN group role every PostgreSQL test user is a
	// member of; pg_hba.conf makes its members log in by password.
	PostgresGroup = "secretsql_test"
	// StartCommand prepares (and if needed starts) both servers.
	StartCommand = "bash scripts/testbed.sh (as root, from the repository root; `make test` runs it)"
)

// HostileChars are the characters every [RandomPassword] contains: each of
// them breaks some naive DSN, URL, shell or SQL quoting.
const HostileChars = `'"\@:/?#%;{}+ `

// opTimeout bounds each administrative operation and each login.
const opTimeout = 30 * time.Second

// DB is a throwaway database on one of the test servers, with a login user
// that has all privileges on it. Everything it creates is dropped when the
// test that created it ends.
type DB struct {
	// Engine is EnginePostgres or EngineMariaDB.
	Engine string
	// Host and Port locate the server (TCP).
	Host string
	Port int
	// Database is the name of the fresh database.
	Database string
	// User and Password are the fresh login user's credentials. Password is
	// the initial one: [DB.SetPassword] does not update it.
	User     string
	Password string
	// Admin is a superuser connection pool to Database. It is closed when
	// the test ends; do not close it yourself.
	Admin *sql.DB

	srv server

	mu    sync.Mutex
	users []string // every user this DB created, in creation order
}

// Postgres returns a fresh database and login user on the local PostgreSQL
// server. The user owns the database (and so, in PostgreSQL 15, its schema
// public) and is a member of [PostgresGroup].
func Postgres(t testing.TB) *DB { return newDB(t, EnginePostgres) }

// MariaDB returns a fresh database and login user ('name'@'%') on the local
// MariaDB server. The user has ALL PRIVILEGES on the database.
func MariaDB(t testing.TB) *DB { return newDB(t, EngineMariaDB) }

// Open returns a fresh database for engine (EnginePostgres or
// EngineMariaDB); it is [Postgres] or [MariaDB].
func Open(t testing.TB, engine string) *DB { return newDB(t, engine) }

// Engines lists the engines of the test bed, for table-driven tests.
func Engines() []string { return []string{EnginePostgres, EngineMariaDB} }

// Require makes the test skip, or fail when the environment variable CI is
// "true", if the server for engine is not reachable. The message names the
// command that starts the test bed. [Postgres] and [MariaDB] call it.
func Require(t testing.TB, engine string) {
	t.Helper()
	srv, err := serverFor(engine)
	if err != nil {
		t.Fatalf("testdb: %v", err)
		return
	}
	require(t, srv)
}

func require(t testing.TB, srv server) {
	t.Helper()
	err := srv.available()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("testdb: %s on %s:%d is not usable: %v; start the test bed with %s",
		srv.name(), Host, srv.port(), err, StartCommand)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	} else {
		t.Skip(msg)
	}
}

func newDB(t testing.TB, engine string) *DB {
	t.Helper()
	Require(t, engine)
	srv, _ := serverFor(engine) // Require checked the engine.
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	db, err := create(ctx, srv, engine)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := db.drop(ctx); err != nil {
			t.Errorf("testdb: cleanup of %s database %s: %v", db.srv.name(), db.Database, err)
		}
	})
	return db
}

// create makes a fresh database and login user on srv, with a superuser
// pool to it; on failure it drops whatever it made.
func create(ctx context.Context, srv server, engine string) (*DB, error) {
	suffix := randomName()
	db := &DB{
		Engine:   engine,
		Host:     Host,
		Port:     srv.port(),
		Database: "sqt_db_" + suffix,
		User:     "sqt_" + suffix,
		Password: RandomPassword(),
		srv:      srv,
	}
	db.track(db.User)
	if err := srv.create(ctx, db.Database, db.User, db.Password); err != nil {
		return nil, fmt.Errorf("testdb: create %s database %s and user %s: %w (and dropping: %v)",
			srv.name(), db.Database, db.User, err, db.drop(ctx))
	}
	db.Admin = srv.openAdmin(db.Database)
	if err := db.Admin.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("testdb: superuser connection to %s: %w (and dropping: %v)", db.Database, err, db.drop(ctx))
	}
	return db, nil
}

// cleanup closes Admin, ends every session of the database and of the users,
// then drops the database and the users.
// drop closes Admin, ends the sessions of the database and of its users,
// then drops them all.
func (db *DB) drop(ctx context.Context) error {
	if db.Admin != nil {
		db.Admin.Close()
	}
	users := db.Users()
	slices.Reverse(users) // clones before the users they were cloned from
	return db.srv.drop(ctx, db.Database, users)
}

func (db *DB) track(user string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if !slices.Contains(db.users, user) {
		db.users = append(db.users, user)
	}
}

func (db *DB) owns(user string) bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return slices.Contains(db.users, user)
}

// Users returns the login users this DB created (User first), all of which
// are dropped when the test ends.
func (db *DB) Users() []string {
	db.mu.Lock()
	defer db.mu.Unlock()
	return slices.Clone(db.users)
}

// Secret is the JSON document AWS Secrets Manager stores for a database
// secret (the keys of the RDS/Aurora structure).
type Secret struct {
	Engine   string `json:"engine"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Username string `json:"username"`
	Password string `json:"password"`
	DBName   string `json:"dbname"`
}

// SecretJSON returns the secret JSON for the database's login user with its
// initial password.
func (db *DB) SecretJSON() string { return db.SecretJSONFor(db.User, db.Password) }

// SecretJSONFor returns the secret JSON for user and password on this
// database.
func (db *DB) SecretJSONFor(user, password string) string {
	b, err := json.Marshal(Secret{
		Engine: db.Engine, Host: db.Host, Port: db.Port,
		Username: user, Password: password, DBName: db.Database,
	})
	if err != nil {
		panic(err) // cannot happen: only strings and an int
	}
	return string(b)
}

// AdminSecretJSON returns a secret JSON holding the server's superuser
// credentials (postgres, or root with an empty password: the test bed trusts
// them), as the masterarn secret of alternating-users rotation does.
func (db *DB) AdminSecretJSON() string {
	return db.SecretJSONFor(db.srv.adminUser(), "")
}

// SetPassword changes the password of user, which must be one of the users
// this DB created (it refuses to touch any other account of the server).
// The password is sent as a correctly escaped SQL string literal, so it may
// contain any character.
func (db *DB) SetPassword(ctx context.Context, user, newPassword string) error {
	if !db.owns(user) {
		return fmt.Errorf("testdb: user %q was not created by this test database", user)
	}
	return db.srv.setPassword(ctx, user, newPassword)
}

// NewUser creates a second login user, with a random name, the given
// password and the same privileges as [DB.User] (for alternating-users
// scenarios). It is dropped when the test ends.
func (db *DB) NewUser(ctx context.Context, password string) (string, error) {
	user := "sqt_" + randomName()
	if err := db.CloneUser(ctx, db.User, user, password); err != nil {
		return "", err
	}
	return user, nil
}

// CloneUser makes sure the login user to exists with the privileges of from
// and the password password, as AWS's alternating-users rotation functions do
// with "<username>_clone": it creates the user if missing and otherwise only
// sets its password. from must be a user of this DB, and to must either not
// exist or be a user of this DB. to is dropped when the test ends.
func (db *DB) CloneUser(ctx context.Context, from, to, password string) error {
	if !db.owns(from) {
		return fmt.Errorf("testdb: user %q was not created by this test database", from)
	}
	if db.owns(to) {
		return db.srv.setPassword(ctx, to, password)
	}
	exists, err := db.srv.userExists(ctx, to)
	if err != nil {
		return err
	}
	if exists {
		return fmt.Errorf("testdb: user %q already exists and was not created by this test database", to)
	}
	db.track(to)
	return db.srv.createUser(ctx, db.Database, from, to, password)
}

// Login opens one connection to the database as user with password, using
// the native driver directly (no pool), pings it and closes it. It returns
// the driver's error unchanged (wrapped), so that errors.As finds a
// *pgconn.PgError (code 28P01 for a wrong password) or a *mysql.MySQLError
// (number 1045).
func (db *DB) Login(ctx context.Context, user, password string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return db.srv.login(ctx, db.Database, user, password)
}

// DatabaseExists reports whether the server has a database called name.
func (db *DB) DatabaseExists(ctx context.Context, name string) (bool, error) {
	return db.srv.databaseExists(ctx, name)
}

// UserExists reports whether the server has a login user called name.
func (db *DB) UserExists(ctx context.Context, name string) (bool, error) {
	return db.srv.userExists(ctx, name)
}

// RandomPassword returns a random 34-character password made of every
// character of [HostileChars] and 20 random letters and digits, shuffled.
func RandomPassword() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	r := newRand()
	b := []byte(HostileChars)
	for range 20 {
		b = append(b, alnum[r.IntN(len(alnum))])
	}
	r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	return string(b)
}

// randomName returns 10 random lower-case hex digits, for object names.
func randomName() string {
	b := make([]byte, 5)
	crand.Read(b)
	return hex.EncodeToString(b)
}

func newRand() *mrand.Rand {
	var seed [32]byte
	crand.Read(seed[:])
	return mrand.New(mrand.NewChaCha8(seed))
}

// server is one database engine of the test bed.
type server interface {
	name() string // for messages: "PostgreSQL"
	port() int
	adminUser() string
	// available reports whether the server answers (cached per process).
	available() error
	// openAdmin returns a superuser pool connected to database.
	openAdmin(database string) *sql.DB
	// create creates database and user, which gets all privileges on it.
	create(ctx context.Context, database, user, password string) error
	// createUser creates to with the privileges of from on database.
	createUser(ctx context.Context, database, from, to, password string) error
	setPassword(ctx context.Context, user, password string) error
	login(ctx context.Context, database, user, password string) error
	databaseExists(ctx context.Context, name string) (bool, error)
	userExists(ctx context.Context, name string) (bool, error)
	// drop ends the sessions of database and users and drops them all.
	drop(ctx context.Context, database string, users []string) error
}

func serverFor(engine string) (server, error) {
	switch engine {
	case EnginePostgres:
		return thePostgres, nil
	case EngineMariaDB:
		return theMariaDB, nil
	}
	return nil, fmt.Errorf("unknown engine %q (want %q or %q)", engine, EnginePostgres, EngineMariaDB)
}

// lazyPool is a server-wide superuser pool opened on first use and kept for
// the life of the test binary, with the result of its first ping and of an
// optional check of the server's setup.
type lazyPool struct {
	once sync.Once
	db   *sql.DB
	err  error
}

func (p *lazyPool) get(open func() *sql.DB, setup func(context.Context, *sql.DB) error) (*sql.DB, error) {
	p.once.Do(func() {
		p.db = open()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.err = p.db.PingContext(ctx)
		if p.err == nil && setup != nil {
			p.err = setup(ctx, p.db)
		}
	})
	return p.db, p.err
}
