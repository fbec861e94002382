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
// With --json, check prints one JSON object (see [Report]) instead of text,
// with the same exit code.
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
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	_ "github.com/secretsql/secretsql/engines/all" // every engine, for check
)

// Exit codes of the command.
const (
	exitOK          = 0
	exitInternal    = 1
	exitUsage       = 2
	exitUnreadable  = 3
	exitMalformed   = 4
	exitAuthFailed  = 5
	exitUnreachable = 6
)

// Main runs the secretsql command with args, the command line without the
// program name (os.Args[1:]), writing to stdout and stderr, until the
// command ends or the process receives SIGINT or SIGTERM, and returns the
// exit code for os.Exit. It installs a handler for those signals while it
// runs.
//
// The DSN schemes that check knows are secretsql's own and those registered
// (credential.RegisterScheme) by the packages the binary imports: a main
// package that imports another scheme's package and calls Main is the same
// command with that scheme too.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

const usage = `usage:
  secretsql check <dsn> [--engine E] [--dsn-params 'k=v&…'] [--region R] [--endpoint URL] [--json] [--timeout 10s]
  secretsql emulator [--addr 127.0.0.1:4566] [--region us-east-1] [--regions us-west-2,…] [--agent 127.0.0.1:2773] [--seed secrets.json] [--rotation-window 2s] [--rotate-every 30s]
  secretsql rotate <secret-id> [--region R] [--endpoint URL] [--timeout 2m] [--no-wait]
  secretsql version

Run 'secretsql <command> -h' for a command's flags.
`

func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return runCheck(ctx, args[1:], stdout, stderr)
	case "emulator":
		return runEmulator(ctx, args[1:], stdout, stderr)
	case "rotate":
		return runRotate(ctx, args[1:], stdout, stderr)
	case "version":
		return runVersion(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "secretsql: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// parseInterspersed parses flags that may come before and after the
// positional arguments ("check ID --json" as well as "check --json ID"), and
// returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseArgs parses a command's flags, which may come before and after its
// n positional arguments, and returns the latter. When ok is false the
// command must exit with code: after -h, or after telling a usage error
// (wrong is what to say when the number of arguments is not n).
func parseArgs(fs *flag.FlagSet, args []string, n int, wrong string, stderr io.Writer) (pos []string, code int, ok bool) {
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, exitOK, false
	case err != nil:
		return nil, exitUsage, false
	case len(pos) != n:
		fmt.Fprintf(stderr, "%s: %s\n", fs.Name(), wrong)
		fs.Usage()
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("secretsql version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: secretsql version\n\nPrints the module version, the Go version and the engines.")
	}
	if _, code, ok := parseArgs(fs, args, 0, "takes no arguments", stderr); !ok {
		return code
	}
	version, goVersion := "(unknown)", "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		version = bi.Main.Version
		for _, d := range bi.Deps {
			// Built as a dependency of another main module (go run
			// github.com/secretsql/secretsql/cmd/secretsql@vX from elsewhere).
			if d.Path == "github.com/secretsql/secretsql" {
				version = d.Version
			}
		}
		if version == "" {
			version = "(devel)"
		}
	}
	fmt.Fprintf(stdout, "secretsql %s (%s)\nengines: %s\n", version, goVersion, strings.Join(engineNames(), ", "))
	return exitOK
}
