// Package authcode tells the server errors that mean a login's credentials
// were rejected, by error type and code, for PostgreSQL (pgx) and for MySQL
// and MariaDB (go-sql-driver/mysql). The engines under engines/ and the
// rotations' database side (internal/rotation/sqldb, which the root
// package's tests reach through smtest and so cannot import an engine)
// share it. It imports only the drivers.
package authcode

import (
	"errors"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Postgres reports a *pgconn.PgError with SQLSTATE 28P01
// (invalid_password) or 28000 (invalid_authorization_specification).
func Postgres(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000")
}

// mysqlNumbers are the MySQL and MariaDB server errors that mean the
// credentials were rejected.
var mysqlNumbers = map[uint16]bool{
	1044: true, // ER_DBACCESS_DENIED_ERROR (alternating users being granted)
	1045: true, // ER_ACCESS_DENIED_ERROR
	1698: true, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
	1862: true, // ER_MUST_CHANGE_PASSWORD_LOGIN
	3118: true, // ER_ACCOUNT_HAS_BEEN_LOCKED
}

// MySQL reports a *mysql.MySQLError whose number is 1044, 1045, 1698, 1862
// or 3118.
func MySQL(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && mysqlNumbers[me.Number]
}
