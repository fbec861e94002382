package vault_test

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/vault"

	_ "github.com/secretsql/secretsql/engines/postgres"
)

// A vault: DSN names the Vault API path after /v1/; sql.Open checks it
// without any network I/O.
func Example_dsn() {
	_, err := sql.Open("secretsmanager-postgres", "vault:/v1/database/creds/app?host=db.internal&dbname=app")
	fmt.Println(errors.Is(err, secretsql.ErrInvalidDSN))
	fmt.Println(err)
	// Output:
	// true
	// secretsql: invalid DSN: the vault source refuses the DSN: vault: the path "/v1/database/creds/app" starts with a slash (a Vault API path after /v1/, such as database/creds/app)
}

// New validates the path and configures the client; errors of the server
// or the token come from the first read.
func ExampleNew() {
	_, err := vault.New("database/creds/../../sys/seal")
	fmt.Println(err)

	s, err := vault.New("database/creds/app", vault.WithNamespace("team-a"))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println(s.Describe().Name, s.Describe().ReleaseIdle)
	// Output:
	// vault: the path "database/creds/../../sys/seal" holds ".." (a Vault API path after /v1/, such as database/creds/app)
	// vault true
}
