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
			// github.com/secretsql/secretsql/cmd/secretsql@vX from
			// elsewhere, or a command of the vault module): that version;
			// replaced by a directory (replace => ../), none: (devel).
			if d.Path == "github.com/secretsql/secretsql" {
				version = d.Version
				if d.Replace != nil {
					version = d.Replace.Version
				}
			}
		}
		if version == "" {
			version = "(devel)"
		}
	}
	fmt.Fprintf(stdout, "secretsql %s (%s)\nengines: %s\n", version, goVersion, strings.Join(engineNames(), ", "))
	return exitOK
}
