// Package iamtest is a stand-in for RDS / Aurora IAM database
// authentication and Aurora DSQL tokens, for tests: a verifier that checks
// a token as RDS checks it, and a test bed on the local PostgreSQL and
// MariaDB (prepared by scripts/testbed.sh) whose IAM users log in only with
// a token that verifier accepts.
//
// # The verifier
//
// [Verify] is a pure function of the token, the login user, the server's
// endpoints, the time and a key lookup. It checks what RDS checks: the SigV4
// query signature (service rds-db, or dsql) made with the secret key of the
// token's access key, Action=connect (DSQL: DbConnect, or DbConnectAdmin
// for the admin user), DBUser equal to the login user (RDS), the endpoint
// host and port (DSQL: host only), the region if one is required, and that
// X-Amz-Date plus X-Amz-Expires (at most 15 minutes for RDS) has not passed.
// [Expect.Lifetime] shortens the accepted lifetime, so that a test sees a
// token expire in seconds. It accepts the tokens of aws-sdk-go-v2's
// feature/rds/auth (host:port?Action=…) and of botocore's
// generate_db_auth_token (host:port/?Action=…, the host signed in lower
// case), both signed over the SHA-256 of the empty body. Every refusal
// matches one of the Err variables; no error holds the token, its signature
// or its session token.
//
// # The test bed
//
// scripts/testbed.sh (run as root; `make test` runs it) installs the
// program iamtest/cmd/iamverify as [Program] and two PAM services that run
// it with pam_exec (expose_authtok): PostgreSQL members of the group role
// [PostgresGroup] (rds_iam) log in through PAM (a pg_hba `pam` line placed
// before the trust lines), and MariaDB users IDENTIFIED VIA pam (the
// auth_pam_v1 plugin, with the cleartext plugin, over TLS) likewise. The
// program takes the key of the token's access key from a [Registry]: a
// directory, [DefaultDir], holding one file per access key id, so that
// tests that each add their own key never interfere, whether they run one
// after the other or at once. It records each decision (never the token) in
// the key's log, which a test reads with [Decisions] to see why a login
// was refused.
//
// A test adds a key, creates an IAM user, and logs in with a token:
//
//	key := iamtest.AddKey(t, iamtest.AccessKey{Region: "us-east-1"})
//	user := iamtest.PostgresUser(t, adminDB, "")
//	token, err := auth.BuildAuthToken(ctx, "127.0.0.1:5432", "us-east-1", user,
//		credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, ""))
//	// connect as user with the token as password: PostgreSQL answers
//	// SQLSTATE 28000 to a refused token, MariaDB error 1045.
//
// pam_exec gives its program at most 511 bytes of a password, so the test
// bed verifies tokens of at most [PAMMaxToken] (510) bytes and refuses
// longer ones ([ErrTooLong] in the log) rather than check a cut token: sign
// test tokens with a long-term key (no session token, which makes a token
// over 1 KB). [Verify] itself takes tokens up to [MaxTokenSize].
//
// MariaDB users need the cleartext plugin over TLS: go-sql-driver/mysql's
// AllowCleartextPasswords and a TLS configuration that trusts the test
// bed's CA ([TLSConfig]).
//
// The test bed trusts local users as much as its servers do (both trust
// local connections of the superuser): key files are readable by every
// local user, so that the servers' users can read them.
//
// Without the test bed, [Require], [AddKey], [PostgresUser] and
// [MariaDBUser] skip the test, or fail it when the environment variable CI
// is "true".
package iamtest
