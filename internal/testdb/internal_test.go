package testdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// hostileStrings are string literals that naive quoting gets wrong.
var hostileStrings = []string{
	"", "plain", HostileChars, `\`, `\\`, `'`, `''`, `\'`, `'\`, `x\`, `\x`,
	`\n\t\0`, "tab\tnewline\n", `E'x'`, `$$`, `$q$`, "\u00e9\u5bc6", `\'; SELECT 1; --`,
}

func TestPgLiteral(t *testing.T) {
	for in, want := range map[string]string{
		"abc":  `'abc'`,
		"a'b":  `'a''b'`,
		`a\b`:  `E'a\\b'`,
		`a\'b`: `E'a\\''b'`,
	} {
		if got := pgLiteral(in); got != want {
			t.Errorf("pgLiteral(%q) = %s, want %s", in, got, want)
		}
	}
	db := Postgres(t)
	// The literal must mean the same string whatever
	// standard_conforming_strings says.
	for _, scs := range []string{"on", "off"} {
		conn, err := db.Admin.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(t.Context(), "SET standard_conforming_strings = "+scs); err != nil {
			t.Fatal(err)
		}
		roundTrip(t, conn, pgLiteral, "standard_conforming_strings="+scs)
		conn.Raw(func(any) error { return driver.ErrBadConn }) // discard the session and its setting
		conn.Close()
	}
}

func TestMyLiteral(t *testing.T) {
	db := MariaDB(t)
	s := theMariaDB
	if s.noBackslashEscapes.Load() {
		t.Fatalf("the test bed's MariaDB has NO_BACKSLASH_ESCAPES: test the other branch explicitly")
	}
	conn, err := db.Admin.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	strs := append(hostileStrings, "nul\x00byte")
	roundTripStrings(t, conn, s.myLiteral, "default sql_mode", strs)

	// The other branch, on a session with NO_BACKSLASH_ESCAPES.
	if _, err := conn.ExecContext(t.Context(), "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "SET SESSION sql_mode = DEFAULT")
	nbe := &mariadbServer{}
	nbe.noBackslashEscapes.Store(true)
	roundTripStrings(t, conn, nbe.myLiteral, "NO_BACKSLASH_ESCAPES", hostileStrings)
}

func roundTrip(t *testing.T, conn *sql.Conn, quote func(string) string, what string) {
	t.Helper()
	roundTripStrings(t, conn, quote, what, hostileStrings)
}

func roundTripStrings(t *testing.T, conn *sql.Conn, quote func(string) string, what string, strs []string) {
	t.Helper()
	for _, in := range strs {
		var out string
		if err := conn.QueryRowContext(t.Context(), "SELECT "+quote(in)).Scan(&out); err != nil {
			t.Errorf("%s: SELECT %s: %v", what, quote(in), err)
			continue
		}
		if out != in {
			t.Errorf("%s: SELECT %s = %q, want %q", what, quote(in), out, in)
		}
	}
}

// unavailable is a server that cannot be reached.
type unavailable struct{ server }

func (unavailable) name() string     { return "FakeDB" }
func (unavailable) port() int        { return 1 }
func (unavailable) available() error { return errors.New("connection refused") }

type recordingT struct {
	testing.TB
	fatal, skipped bool
	msg            string
}

func (r *recordingT) Helper()           {}
func (r *recordingT) Fatal(args ...any) { r.fatal = true; r.msg = fmt.Sprint(args...) }
func (r *recordingT) Skip(args ...any)  { r.skipped = true; r.msg = fmt.Sprint(args...) }

func TestRequireUnavailable(t *testing.T) {
	for _, ci := range []string{"true", "", "false"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recordingT{TB: t}
			require(r, unavailable{})
			if ci == "true" && (!r.fatal || r.skipped) {
				t.Errorf("CI=true: fatal=%v skipped=%v, want a failure", r.fatal, r.skipped)
			}
			if ci != "true" && (r.fatal || !r.skipped) {
				t.Errorf("CI=%q: fatal=%v skipped=%v, want a skip", ci, r.fatal, r.skipped)
			}
			for _, want := range []string{"FakeDB", "connection refused", "scripts/testbed.sh"} {
				if !strings.Contains(r.msg, want) {
					t.Errorf("message %q lacks %q", r.msg, want)
				}
			}
		})
	}
}
