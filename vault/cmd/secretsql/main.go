// Command secretsql is the secretsql command (check, emulator, rotate,
// version: see github.com/secretsql/secretsql/cmd/secretsql) built with the
// Vault source, so that check also understands vault: DSNs:
//
//	VAULT_ADDR=https://vault.internal:8200 VAULT_TOKEN=… \
//	  go run github.com/secretsql/secretsql/vault/cmd/secretsql check 'vault:database/creds/app?host=db.internal&dbname=app' --engine postgres
//
// check reads the credentials through the Vault source as an application
// would (a dynamic role's lease is revoked when check exits), opens one
// connection and pings the database; neither the Vault token nor the
// password is ever printed. A vault: DSN names no engine, so --engine is
// required unless a KV secret names one. Exit codes are those of the
// secretsql command; Vault errors (unreachable, sealed, permission denied,
// unknown role) exit with 3.
package main

import (
	"os"

	"github.com/secretsql/secretsql/internal/cli"
	_ "github.com/secretsql/secretsql/vault"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
