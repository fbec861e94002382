// Package credential is the seam between secretsql's cache and the places
// database credentials come from: AWS Secrets Manager, a mounted file, an
// RDS IAM or Aurora DSQL token signer, HashiCorp Vault, or a [Source] of
// your own.
//
// A Source hands out a [Credential] with an optional expiry, like
// golang.org/x/oauth2's TokenSource hands out a token. secretsql's cache
// does the rest for every source alike: one read shared by every connect
// that waits for it (each waiting only as long as its own context and fetch
// timeout allow), a cache hit that takes no lock, a background refresh at
// the earlier of the refresh interval and shortly before the expiry (an
// expired credential is never handed out), and a forced read when the
// database rejects a credential, inside the connect that was rejected.
//
// What oauth2 lacks and a database needs is in [Request]: the context of
// the read, and Rejected, the version the database just refused, so that a
// source can look for a newer one (Secrets Manager reads AWSPENDING, a file
// source waits for the file to change, a token source signs again). A
// source that implements [Describer] declares how often it may be read;
// one that implements io.Closer is closed when the cache lets go of it (the
// last reader closed and the idle grace period ended, or the cache was
// closed): the moment to release what it holds, such as a Vault lease.
//
// A source of your own is used with secretsql.WithSource, or made
// available to DSNs under a scheme of its own with [RegisterScheme]:
//
//	credential.RegisterScheme("mysource", func(dsn DSN) (credential.Source, error) { … })
//	db, err := sql.Open("secretsmanager-postgres", "mysource:app?host=db.internal&sslmode=verify-full")
package credential
