// Package cli is the implementation of the secretsql command (its
// subcommands check, emulator, rotate and version), documented in
// cmd/secretsql. It lives here, and not in package main, so that more than
// one main package can be the same command: cmd/secretsql in this module,
// and a build in a module of its own (such as github.com/secretsql/secretsql/vault)
// that imports a package registering another DSN scheme with
// credential.RegisterScheme, which check then knows like the built-in
// ones. Go's internal rule lets every package under
// github.com/secretsql/secretsql import it, in this module or another.
//
// [Main] is the only entry point: a main package calls
//
//	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
//
// after importing the packages whose schemes it wants. Every engine of
// secretsql (engines/all) is imported here. [Report] is what check prints
// with --json.
package cli
