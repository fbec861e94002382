// Command secretsql diagnoses secretsql set-ups, serves a local Secrets
// Manager emulator and rotates secrets.
//
// Usage:
//
//	secretsql check <dsn> [--engine E] [--dsn-params 'k=v&…'] [--region R] [--endpoint URL] [--json] [--timeout 10s]
//	secretsql emulator [--addr 127.0.0.1:4566] [--region us-east-1] [--regions us-west-2,…] [--agent 127.0.0.1:2773] [--seed secrets.json] [--rotation-window 2s] [--rotate-every 30s]
//	secretsql rotate <secret-id> [--region R] [--endpoint URL] [--timeout 2m] [--no-wait]
//	secretsql version
//
// # check
//
// check reads the credentials through secretsql itself, as an application
// using it would (the AWS SDK's default configuration chain: AWS_REGION,
// AWS_PROFILE, AWS_ENDPOINT_URL_SECRETS_MANAGER, …; the DSN keys region and
// endpoint take precedence), checks that they fit the engine, prints the
// resolved target with the password redacted, then opens one connection
// and pings the database. The DSN is a secret name or ARN (read through
// GetSecretValue, or the agent with source=agent), a file:/path, an
// iam://user@host:port/db or dsql://user@endpoint/db (a token signed
// locally), or a scheme another package registers, with its keys after '?'
// or in --dsn-params. Without --engine the engine is taken from the
// secret's "engine" key (read once, through a probe engine of check's own
// that connects nowhere: the engine's Connector then finds the secret in
// secretsql's cache), is postgres for dsql://, and for iam:// the engine
// whose default port the DSN names. The password, or token, is never
// printed, whatever the outcome.
//
// When something fails, check names the cause and what to do, for the
// source at hand: the IAM statement to grant (to the caller, or to the
// agent's role), the region it looked in, the DSN keys an RDS-managed
// secret needs, the engine the secret is for, or whether a rotation is in
// progress (an AWSPENDING version that differs from AWSCURRENT, read
// through secretsql).
//
// Exit codes:
//
//	0  the secret is readable and well-formed, and the database accepted it
//	1  an unexpected error
//	2  usage: bad arguments, an invalid DSN, an unknown engine, no AWS region
//	3  the secret cannot be read (not found, access denied, deleted, KMS, network to Secrets Manager)
//	4  the secret is malformed (not JSON, missing keys, another engine)
//	5  the database rejected the credentials (AWSCURRENT and, if any, AWSPENDING)
//	6  the database could not be reached or failed otherwise (network, TLS, timeout)
//
// With --json, check prints one JSON object instead of text, with the same
// exit code; its field names are stable (the Report type of
// internal/cli documents them).
//
// # emulator
//
// emulator serves the in-memory Secrets Manager emulator of package smtest
// until SIGINT or SIGTERM, and prints the environment variables that make
// the AWS SDK (and so an unchanged application using secretsql) talk to it.
// --seed names a JSON file whose top-level object maps secret names to
// values: a JSON object is stored as its JSON text, a string as is.
//
// The emulator accepts one access key, random per start unless given with
// --access-key and --secret-key (never smtest's published test keys), and
// answers only requests whose Host header names the listen address or a
// loopback name (DNS rebinding; --allow-host adds names). An --addr other
// machines can reach needs --allow-remote and prints a warning.
//
// RotateSecret rotates database secrets of PostgreSQL, Redshift (as
// PostgreSQL), MySQL and MariaDB against the real database, single user or,
// with a masterarn, alternating users; --rotation-window holds each
// rotation's setSecret→finishSecret window open, --rotate-every rotates on a
// schedule for soak runs. Rotations and their failures are logged to
// stderr; --verbose logs every request.
//
// --regions serves more regions on the same address (a request goes to the
// region it is signed for), to which secrets can be replicated; --agent also
// serves the HTTP API of the Secrets Manager Agent (and Lambda extension) on
// another address, reading the emulator, and prints its token as AWS_TOKEN.
//
// # rotate
//
// rotate calls RotateSecret (on AWS or on the emulator, through the SDK's
// default chain) and waits until the new version is AWSCURRENT. It exits
// with 0 when it is, 3 when Secrets Manager refuses the call, 1 when the
// rotation does not complete within --timeout or is cancelled.
//
// # version
//
// version prints the module version and the Go version the binary was
// built with.
//
// # Other DSN schemes
//
// This command knows secretsql's own DSN schemes and those of the packages
// it imports. A scheme served by a module of its own, such as vault:
// (package github.com/secretsql/secretsql/vault, which keeps HashiCorp
// Vault's client out of this module), needs a build of the same command
// that imports that package: its main package imports it and calls
// internal/cli's Main, as this one does.
package main

import (
	"os"

	"github.com/secretsql/secretsql/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
