package secretsqlotel

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/secretsql/secretsql"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// sentinels are secretsql's sentinel errors and their short names, in the
// order they are tried.
var sentinels = []struct {
	err  error
	name string
}{
	{secretsql.ErrSecretNotFound, "secret_not_found"},
	{secretsql.ErrAccessDenied, "access_denied"},
	{secretsql.ErrSecretDeleted, "secret_deleted"},
	{secretsql.ErrDecryption, "decryption_failure"},
	{secretsql.ErrThrottled, "throttled"},
	{secretsql.ErrSecretsManager, "secrets_manager"},
	{secretsql.ErrMalformedSecret, "malformed_secret"},
	{secretsql.ErrMissingKey, "missing_key"},
	{secretsql.ErrEngineMismatch, "engine_mismatch"},
	{secretsql.ErrAuthFailed, "auth_failed"},
	{secretsql.ErrClosed, "closed"},
	{secretsql.ErrInvalidDSN, "invalid_dsn"},
	{secretsql.ErrInvalidOption, "invalid_option"},
	{secretsql.ErrUnknownEngine, "unknown_engine"},
}

// ErrorType returns the value of the error.type attribute for err, never
// its message: the AWS error code of a [secretsql.FetchError] (e.g.
// AccessDeniedException, ResourceNotFoundException), or "_OTHER" if the
// code does not look like one (a letter, then up to 63 letters and digits:
// the code an agent passes on is free text); for a read that got no
// answer, "timeout" when it ran out of time; the database's code of a
// rejected login (see [StatusCode]); else the short name of the secretsql
// sentinel err matches (secret_not_found, access_denied, secret_deleted,
// decryption_failure, throttled, secrets_manager, malformed_secret,
// missing_key, engine_mismatch, auth_failed, closed, …); else "timeout" or
// "canceled" for the context errors; else err's Go type (e.g.
// "*net.OpError"). It returns "" for nil.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	var fe *secretsql.FetchError
	if errors.As(err, &fe) {
		if fe.Code != "" {
			if !awsErrorCode(fe.Code) {
				return semconv.ErrorTypeOther.Value.AsString()
			}
			return fe.Code
		}
		if errors.Is(fe.Err, context.DeadlineExceeded) {
			return "timeout"
		}
	}
	if code := StatusCode(err); code != "" {
		return code
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return fmt.Sprintf("%T", err)
}

// awsErrorCode reports whether code looks like an AWS error code
// (ThrottlingException, DecryptionFailure, …): a letter, then at most 63
// letters and digits. This bounds the values of error.type.
func awsErrorCode(code string) bool {
	if len(code) > 64 {
		return false
	}
	for i, c := range code {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return code != ""
}

// StatusCode returns the database's code in err, for the
// db.response.status_code attribute, or "": a SQLSTATE (pgx's
// *pgconn.PgError, e.g. 28P01), a MySQL or MariaDB error number
// (go-sql-driver's *mysql.MySQLError, e.g. 1045), a SQL Server error number
// (go-mssqldb, e.g. 18456) or an Oracle code (go-ora, e.g. ORA-01017). The
// drivers are recognised without being imported: by their methods, or by
// reflection on the error types of go-sql-driver/mysql and go-ora.
func StatusCode(err error) string {
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		return state.SQLState()
	}
	var number interface{ SQLErrorNumber() int32 }
	if errors.As(err, &number) {
		return strconv.FormatInt(int64(number.SQLErrorNumber()), 10)
	}
	var code string
	walk(err, func(e error) bool {
		code = fieldCode(e)
		return code != ""
	})
	return code
}

// fieldCode reads the code field of go-sql-driver's MySQLError and go-ora's
// OracleError.
func fieldCode(err error) string {
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	t := v.Type()
	switch {
	case t.Name() == "MySQLError" && t.PkgPath() == "github.com/go-sql-driver/mysql":
		if f := v.FieldByName("Number"); f.IsValid() && f.CanUint() {
			return strconv.FormatUint(f.Uint(), 10)
		}
	case t.Name() == "OracleError" && t.PkgPath() == "github.com/sijms/go-ora/v2/network":
		if f := v.FieldByName("ErrCode"); f.IsValid() && f.CanInt() {
			return fmt.Sprintf("ORA-%05d", f.Int())
		}
	}
	return ""
}

// walk calls f on err and the errors it wraps, depth first, until f
// returns true.
func walk(err error, f func(error) bool) bool {
	if err == nil {
		return false
	}
	if f(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walk(u.Unwrap(), f)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if walk(e, f) {
				return true
			}
		}
	}
	return false
}
