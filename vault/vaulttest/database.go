package vaulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/secretsql/secretsql/internal/testdb"
)

// ConnectionName is the name of the connection every [Database] mount
// configures (<mount>/config/<name>).
const ConnectionName = "db"

// Database is a database secrets engine mount of a [Server], connected to a
// fresh throwaway database of the local test bed. The mount goes (revoking
// its leases, which drops the dynamic users) when the test ends.
type Database struct {
	// Server is the Vault server the mount is on.
	Server *Server
	// Mount is the mount path, e.g. "postgres-1"; the engine's paths are
	// Mount+"/creds/<role>", Mount+"/static-creds/<role>" and so on.
	Mount string
	// DB is the throwaway database Vault connects to, with its own login
	// user (DB.User), dropped when the test ends. Dynamic users log in to
	// it with DB.Login.
	DB *testdb.DB

	mu    sync.Mutex
	users []string // the dynamic users Creds handed out
}

// Postgres mounts the database secrets engine with a connection to a fresh
// database on the local PostgreSQL, as the superuser postgres (the test bed
// trusts it; Vault's connection_url uses sslmode=disable).
func (s *Server) Postgres(t testing.TB) *Database { return s.Database(t, testdb.EnginePostgres) }

// MariaDB mounts the database secrets engine (mysql-database-plugin) with a
// connection to a fresh database on the local MariaDB, as root with the
// test bed's empty password.
func (s *Server) MariaDB(t testing.TB) *Database { return s.Database(t, testdb.EngineMariaDB) }

// Database mounts the database secrets engine at a new path with a
// connection to a fresh database of engine (testdb.EnginePostgres or
// testdb.EngineMariaDB); see [Server.Postgres] and [Server.MariaDB].
func (s *Server) Database(t testing.TB, engine string) *Database {
	t.Helper()
	var plugin, url string
	switch engine {
	case testdb.EnginePostgres:
		plugin = "postgresql-database-plugin"
	case testdb.EngineMariaDB:
		plugin = "mysql-database-plugin"
	default:
		t.Fatalf("vaulttest: unknown engine %q", engine)
		return nil
	}
	db := testdb.Open(t, engine) // skips, or fails under CI, without the test bed
	switch engine {
	case testdb.EnginePostgres:
		url = fmt.Sprintf("postgresql://{{username}}:{{password}}@%s:%d/%s?sslmode=disable", db.Host, db.Port, db.Database)
	case testdb.EngineMariaDB:
		url = fmt.Sprintf("{{username}}:{{password}}@tcp(%s:%d)/%s", db.Host, db.Port, db.Database)
	}
	d := &Database{Server: s, Mount: s.nextMount(engine), DB: db}

	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	if err := s.Client.Sys().MountWithContext(ctx, d.Mount, &api.MountInput{Type: "database"}); err != nil {
		t.Fatalf("vaulttest: mounting the database secrets engine at %s: %v", d.Mount, err)
	}
	// Registered after testdb's cleanup, so it runs first: Vault revokes
	// its leases while the database is still there.
	t.Cleanup(func() { d.cleanup(t) })
	d.write(t, ctx, "config/"+ConnectionName, map[string]any{
		"plugin_name":       plugin,
		"connection_url":    url,
		"username":          adminUser(engine),
		"password":          "",
		"allowed_roles":     "*",
		"verify_connection": true,
	})
	return d
}

// adminUser is the superuser Vault connects as: the test bed trusts it
// with an empty password.
func adminUser(engine string) string {
	if engine == testdb.EnginePostgres {
		return "postgres"
	}
	return "root"
}

func (s *Server) nextMount(engine string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mounts[engine]++
	return engine + "-" + strconv.Itoa(s.mounts[engine])
}

// cleanup unmounts the engine, which revokes every lease of the mount
// (dropping the dynamic users) and closes Vault's connections to the
// database, then drops, and reports, any dynamic user Vault left behind.
func (d *Database) cleanup(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	defer cancel()
	select {
	case <-d.Server.done:
		// A test stopped the server (Server.Stop): nothing to unmount;
		// the users Creds handed out are dropped below.
	default:
		if err := d.Server.Client.Sys().UnmountWithContext(ctx, d.Mount); err != nil {
			t.Errorf("vaulttest: unmounting %s: %v", d.Mount, err)
		}
	}
	for _, u := range d.Users() {
		n, err := d.countUser(ctx, u)
		if err != nil {
			t.Errorf("vaulttest: looking for user %s: %v", u, err)
			continue
		}
		if n == 0 {
			continue
		}
		t.Errorf("vaulttest: Vault left the %s user %s behind after unmounting %s; dropping it", d.DB.Engine, u, d.Mount)
		if err := d.dropUser(ctx, u); err != nil {
			t.Errorf("vaulttest: dropping user %s: %v", u, err)
		}
	}
}

// Users returns the names of the dynamic users [Database.Creds] handed out.
func (d *Database) Users() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.users)
}

// write writes data to Mount+"/"+path, failing the test on error.
func (d *Database) write(t testing.TB, ctx context.Context, path string, data map[string]any) {
	t.Helper()
	if _, err := d.Server.Client.Logical().WriteWithContext(ctx, d.Mount+"/"+path, data); err != nil {
		t.Fatalf("vaulttest: writing %s/%s: %v", d.Mount, path, err)
	}
}

// DynamicRole is the configuration of a role whose credentials are new
// database users, each with a lease.
type DynamicRole struct {
	// DefaultTTL is the lease duration of new credentials, and MaxTTL the
	// most a lease can be renewed to, counted from issue (Vault's defaults:
	// the mount's, 768 h, when zero).
	DefaultTTL, MaxTTL time.Duration
	// CreationStatements create the user; empty means
	// [DefaultCreationStatements].
	CreationStatements []string
	// RevocationStatements and RenewStatements default to Vault's: DROP
	// ROLE / DROP USER after revoking privileges, and ALTER ROLE … VALID
	// UNTIL on PostgreSQL (nothing on MariaDB).
	RevocationStatements, RenewStatements []string
}

// DefaultCreationStatements returns the creation statements of a dynamic
// role of d when [DynamicRole] sets none. On PostgreSQL the user gets VALID
// UNTIL the lease's expiry and joins testdb.PostgresGroup, so that it must
// log in by password (the test bed trusts every other role); on MariaDB it
// is '<name>'@'%' with SELECT on the database.
func (d *Database) DefaultCreationStatements() []string {
	if d.DB.Engine == testdb.EnginePostgres {
		return []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE ` +
			pgx.Identifier{testdb.PostgresGroup}.Sanitize() + `;`}
	}
	return []string{
		`CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';`,
		"GRANT SELECT ON " + myIdent(d.DB.Database) + `.* TO '{{name}}'@'%';`,
	}
}

// DynamicRole creates (or replaces) the dynamic role name.
func (d *Database) DynamicRole(t testing.TB, name string, r DynamicRole) {
	t.Helper()
	stmts := r.CreationStatements
	if len(stmts) == 0 {
		stmts = d.DefaultCreationStatements()
	}
	data := map[string]any{
		"db_name":             ConnectionName,
		"creation_statements": stmts,
	}
	if r.DefaultTTL > 0 {
		data["default_ttl"] = seconds(r.DefaultTTL)
	}
	if r.MaxTTL > 0 {
		data["max_ttl"] = seconds(r.MaxTTL)
	}
	if len(r.RevocationStatements) > 0 {
		data["revocation_statements"] = r.RevocationStatements
	}
	if len(r.RenewStatements) > 0 {
		data["renew_statements"] = r.RenewStatements
	}
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	d.write(t, ctx, "roles/"+name, data)
}

// StaticRole creates (or replaces) the static role name for the existing
// user username, whose password Vault changes at once and then every
// rotation (at least 5 s). The user must log in by password: use DB.User
// or a user from DB.NewUser.
func (d *Database) StaticRole(t testing.TB, name, username string, rotation time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	d.write(t, ctx, "static-roles/"+name, map[string]any{
		"db_name":         ConnectionName,
		"username":        username,
		"rotation_period": seconds(rotation),
	})
}

// Creds are dynamic database credentials with their lease. Printing them
// with fmt never shows the password.
type Creds struct {
	Username, Password string
	// LeaseID identifies the lease for renewal and revocation.
	LeaseID string
	// LeaseDuration is the lease's duration when it was issued.
	LeaseDuration time.Duration
	// Renewable reports whether the lease can be renewed.
	Renewable bool
}

// Format prints the credentials with the password redacted, whatever the
// verb.
func (c Creds) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "vaulttest.Creds{Username: %q, Password: [redacted], LeaseID: %q, LeaseDuration: %v, Renewable: %v}",
		c.Username, c.LeaseID, c.LeaseDuration, c.Renewable)
}

// Creds reads new dynamic credentials of role (a new database user). The
// user is dropped when the test ends, by Vault when it unmounts the engine
// or else by the harness.
func (d *Database) Creds(t testing.TB, role string) Creds {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	path := d.Mount + "/creds/" + role
	sec, err := d.Server.Client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		t.Fatalf("vaulttest: reading %s: %v", path, err)
	}
	if sec == nil {
		t.Fatalf("vaulttest: reading %s: no secret", path)
	}
	c := Creds{
		Username:      str(sec.Data, "username"),
		Password:      str(sec.Data, "password"),
		LeaseID:       sec.LeaseID,
		LeaseDuration: time.Duration(sec.LeaseDuration) * time.Second,
		Renewable:     sec.Renewable,
	}
	if c.Username == "" || c.Password == "" || c.LeaseID == "" {
		t.Fatalf("vaulttest: %s gave no username, password or lease id (username %q, lease %q)", path, c.Username, c.LeaseID)
	}
	d.mu.Lock()
	d.users = append(d.users, c.Username)
	d.mu.Unlock()
	return c
}

// StaticCreds are the current credentials of a static role. Printing them
// with fmt never shows the password.
type StaticCreds struct {
	Username, Password string
	// LastRotation is when Vault last changed the password.
	LastRotation time.Time
	// RotationPeriod is the role's rotation period, and TTL the time left
	// until the next rotation (floored at 0 while the rotation is due).
	RotationPeriod, TTL time.Duration
}

// Format prints the credentials with the password redacted, whatever the
// verb.
func (c StaticCreds) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "vaulttest.StaticCreds{Username: %q, Password: [redacted], LastRotation: %s, RotationPeriod: %v, TTL: %v}",
		c.Username, c.LastRotation.Format(time.RFC3339Nano), c.RotationPeriod, c.TTL)
}

// StaticCreds reads the current credentials of the static role.
func (d *Database) StaticCreds(t testing.TB, role string) StaticCreds {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	path := d.Mount + "/static-creds/" + role
	sec, err := d.Server.Client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		t.Fatalf("vaulttest: reading %s: %v", path, err)
	}
	if sec == nil {
		t.Fatalf("vaulttest: reading %s: no secret", path)
	}
	c := StaticCreds{
		Username:       str(sec.Data, "username"),
		Password:       str(sec.Data, "password"),
		RotationPeriod: time.Duration(num(sec.Data, "rotation_period")) * time.Second,
		TTL:            time.Duration(num(sec.Data, "ttl")) * time.Second,
	}
	last, err := time.Parse(time.RFC3339Nano, str(sec.Data, "last_vault_rotation"))
	if err != nil {
		t.Fatalf("vaulttest: %s: last_vault_rotation: %v", path, err)
	}
	c.LastRotation = last
	if c.Username == "" || c.Password == "" {
		t.Fatalf("vaulttest: %s gave no username or password (username %q)", path, c.Username)
	}
	return c
}

// UserCount returns how many accounts called name the server has: rows of
// pg_roles on PostgreSQL, of mysql.user on MariaDB (any host).
func (d *Database) UserCount(t testing.TB, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	n, err := d.countUser(ctx, name)
	if err != nil {
		t.Fatalf("vaulttest: counting user %s: %v", name, err)
	}
	return n
}

func (d *Database) countUser(ctx context.Context, name string) (int, error) {
	q := "SELECT count(*) FROM pg_roles WHERE rolname = $1"
	if d.DB.Engine == testdb.EngineMariaDB {
		q = "SELECT COUNT(*) FROM mysql.user WHERE User = ?"
	}
	var n int
	err := d.DB.Admin.QueryRowContext(ctx, q, name).Scan(&n)
	return n, err
}

func (d *Database) dropUser(ctx context.Context, name string) error {
	q := "DROP ROLE IF EXISTS " + pgx.Identifier{name}.Sanitize()
	if d.DB.Engine == testdb.EngineMariaDB {
		q = "DROP USER IF EXISTS " + myIdent(name) + "@'%'"
	}
	_, err := d.DB.Admin.ExecContext(ctx, q)
	return err
}

// myIdent quotes a MariaDB identifier.
func myIdent(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }

// seconds is d in whole seconds, as Vault's duration fields take it.
func seconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) + "s" }

// str returns data[key] if it is a string.
func str(data map[string]any, key string) string {
	s, _ := data[key].(string)
	return s
}

// num returns data[key] as an integer (the client decodes numbers as
// json.Number), or 0.
func num(data map[string]any, key string) int64 {
	switch v := data[key].(type) {
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return 0
		}
		return n
	case float64:
		return int64(v)
	}
	return 0
}

// PutKV writes data as a new version of path in the KV v2 mount secret/ and
// returns the version number.
func (s *Server) PutKV(t testing.TB, path string, data map[string]any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	defer cancel()
	sec, err := s.Client.KVv2(KVMount).Put(ctx, path, data)
	if err != nil {
		t.Fatalf("vaulttest: writing %s/data/%s: %v", KVMount, path, err)
	}
	if sec == nil || sec.VersionMetadata == nil {
		t.Fatalf("vaulttest: writing %s/data/%s: no version in the answer", KVMount, path)
	}
	return sec.VersionMetadata.Version
}
