// Package vaulttest runs a real HashiCorp Vault server for integration tests
// of the Vault credential source, with the database secrets engine connected
// to the local PostgreSQL and MariaDB of the test bed (internal/testdb).
//
// [Start] launches `vault server -dev` (in memory, unsealed, KV v2 at
// secret/) on a free 127.0.0.1 port with a random root token, waits until it
// answers and stops it when the test ends:
//
//	srv := vaulttest.Start(t)
//	pg := srv.Postgres(t)              // a database secrets engine mount on a fresh PostgreSQL database
//	pg.DynamicRole(t, "app", vaulttest.DynamicRole{DefaultTTL: time.Minute, MaxTTL: 5 * time.Minute})
//	c := pg.Creds(t, "app")            // a new database user, with its lease
//	err := pg.DB.Login(ctx, c.Username, c.Password)
//
// The server binary is Vault v1.14.1 (MPL-2.0) built from source by
// scripts/vaultserver.sh into ${XDG_CACHE_HOME:-$HOME/.cache}/secretsql/vault-1.14.1/vault
// (or VAULT_CACHE_DIR), or the binary named by the environment variable
// VAULT_BIN. `make test` runs the script first. Without a binary, or without
// the test bed's databases, the test is skipped, or fails when the
// environment variable CI is "true".
//
// Everything a test creates goes when it ends: the server process (and its
// process group; on Linux it also dies with the test binary), the database
// mounts (unmounting revokes their leases, which drops the dynamic users;
// any user Vault left behind is dropped and reported), and the throwaway
// databases and users of internal/testdb.
//
// Tokens and passwords never appear in messages: [Server] and [Creds] print
// without them, and the server's output, kept (bounded) for failure messages,
// is shown without the root token and the unseal key.
package vaulttest
