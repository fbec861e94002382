// Package extest sets up what the examples' tests need: the Secrets Manager
// emulator, the AWS SDK environment pointing at it (so that the examples
// run unchanged, as against AWS), and a fresh database with its secret on
// the local test bed (internal/testdb).
package extest

import (
	"os"
	"testing"

	"github.com/secretsql/secretsql/internal/testdb"
	"github.com/secretsql/secretsql/smtest"
)

// Setup starts an emulator for the test, exports the AWS_* variables that
// make the SDK's default configuration use it, creates a database and user
// on engine (testdb.EnginePostgres or testdb.EngineMariaDB) and stores its
// secret as "examples/<engine>". It returns the secret's ARN.
func Setup(t *testing.T, engine string) (secretARN string, db *testdb.DB, sm *smtest.Server) {
	t.Helper()
	db = testdb.Open(t, engine)
	sm = smtest.NewServer()
	t.Cleanup(sm.Close)
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.URL)
	t.Setenv("AWS_REGION", sm.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", smtest.DefaultAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", smtest.DefaultSecretAccessKey)
	return sm.CreateSecret("examples/"+engine, db.SecretJSON()), db, sm
}
