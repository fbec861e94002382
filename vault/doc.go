// Package vault is the HashiCorp Vault credential source of secretsql:
// importing it registers the DSN scheme vault:, whose path is a Vault API
// path after /v1/.
//
//	import (
//		_ "github.com/secretsql/secretsql/engines/postgres"
//		_ "github.com/secretsql/secretsql/vault"
//	)
//
//	db, err := sql.Open("secretsmanager-postgres", "vault:database/creds/app?host=db.internal&dbname=app")
//
// What the path holds is told from Vault's answer, not from the mount's
// name:
//
//   - Dynamic credentials (an answer with a lease, the database secrets
//     engine's <mount>/creds/<role>): one lease per [Source], and so per
//     process, path and token, shared by every connection and sql.DB.
//     A refresh renews the lease by its original duration while Vault
//     allows; when the renewal comes back capped by the role's max_ttl (or
//     the lease is not renewable) the next refresh reads new credentials,
//     ahead of the old lease's end. After a rejected login new credentials
//     are read. Close (db.Close, when the last reader goes) revokes every
//     lease obtained: no database user is left behind.
//   - Static roles (an answer with last_vault_rotation,
//     <mount>/static-creds/<role>): the password is handed out until
//     shortly after the next rotation (the answer's ttl), when it is read
//     again. Vault changes the password in the database before it stores
//     the new one, so after a rejected login the role is read again until
//     last_vault_rotation changes.
//   - KV v2 (<mount>/data/<path>): the same JSON as a Secrets Manager
//     secret (username, password, host, port, dbname, engine), re-read
//     after a rejected login and at the refresh interval (ttl=).
//   - Any other answer with a username and a password (KV v1) is used as
//     it is.
//
// The server and the client's settings come from the environment the
// official client reads (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE,
// VAULT_CACERT, VAULT_CLIENT_CERT, VAULT_SKIP_VERIFY, VAULT_MAX_RETRIES,
// VAULT_CLIENT_TIMEOUT, …), or from a client given with [WithClient]. The
// DSN's own keys are auth, token_file, role, secret_id_file, jwt_file,
// auth_mount and namespace.
//
// Errors are [*Error] values naming the server, the operation and the path,
// never a token or a password; errors.Is tells [ErrPermissionDenied],
// [ErrNotFound], [ErrUnavailable], [ErrBadAnswer] and [ErrClosed].
package vault
