package authcode

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestCodes(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("connect: %w", err) }
	for _, tc := range []struct {
		err             error
		postgres, mysql bool
	}{
		{&pgconn.PgError{Code: "28P01"}, true, false},
		{wrap(&pgconn.PgError{Code: "28000"}), true, false},
		{&pgconn.PgError{Code: "3D000"}, false, false}, // no such database
		{&mysql.MySQLError{Number: 1045}, false, true},
		{wrap(&mysql.MySQLError{Number: 1044}), false, true},
		{&mysql.MySQLError{Number: 1698}, false, true},
		{&mysql.MySQLError{Number: 1862}, false, true},
		{&mysql.MySQLError{Number: 3118}, false, true},
		{&mysql.MySQLError{Number: 1049}, false, false}, // unknown database
		{errors.New("Access denied for user"), false, false},
		{nil, false, false},
	} {
		if got := Postgres(tc.err); got != tc.postgres {
			t.Errorf("Postgres(%v) = %v", tc.err, got)
		}
		if got := MySQL(tc.err); got != tc.mysql {
			t.Errorf("MySQL(%v) = %v", tc.err, got)
		}
	}
}
