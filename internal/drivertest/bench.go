package drivertest

import (
	"net/url"
	"testing"

	"github.com/secretsql/secretsql"
	"github.com/secretsql/secretsql/engine"
)

// AuthErrorCase is one error for [BenchIsAuthError]: Err produces it (it may
// use the test bed), Want is whether it means rejected credentials.
type AuthErrorCase struct {
	Name string
	Err  func(b *testing.B) error
	Want bool
}

// BenchIsAuthError checks, then times, e.IsAuthError on each case.
func BenchIsAuthError(b *testing.B, e engine.Engine, cases []AuthErrorCase) {
	for _, c := range cases {
		b.Run(c.Name, func(b *testing.B) {
			err := c.Err(b)
			if got := e.IsAuthError(err); got != c.Want {
				b.Fatalf("IsAuthError(%v) = %v, want %v", err, got, c.Want)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				e.IsAuthError(err)
			}
		})
	}
}

// BenchNewConnector times building the native connector for creds from a
// prepared DSN (what secretsql pays once per secret version), without and
// with the driver parameters params.
func BenchNewConnector(b *testing.B, e engine.Engine, creds secretsql.Credentials, params url.Values) {
	for _, bc := range []struct {
		name   string
		params url.Values
	}{{"no-params", nil}, {"params", params}} {
		b.Run(bc.name, func(b *testing.B) {
			prepared, err := e.Prepare(bc.params)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := prepared.Connector(creds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Engine returns the registered engine name (import its package first).
func Engine(name string) engine.Engine {
	if e, ok := engine.Lookup(name); ok {
		return e
	}
	panic("drivertest: engine " + name + " is not registered")
}
