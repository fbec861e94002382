// Command secretsql is secretsql's command (check, rotate, version; see
// github.com/secretsql/secretsql/cmd/secretsql) built with the vault:
// DSN scheme of github.com/secretsql/secretsql/vault:
//
//	go run github.com/secretsql/secretsql/vault/cmd/secretsql check 'vault:database/creds/app?host=db.internal&dbname=app'
//
// The server and the token come from the environment the official Vault
// client reads (VAULT_ADDR, VAULT_TOKEN, …).
package main

import (
	"os"

	"github.com/secretsql/secretsql/internal/cli"
	_ "github.com/secretsql/secretsql/vault"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
