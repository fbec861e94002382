package drivertest

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/secretsql/secretsql"
)

// CheckDSNError fails the test unless err is a *secretsql.DSNError matching
// secretsql.ErrInvalidDSN, for key (if not ""), whose text holds neither
// password nor its URL-escaped form.
func CheckDSNError(t *testing.T, err error, key, password string) {
	t.Helper()
	if !errors.Is(err, secretsql.ErrInvalidDSN) {
		t.Fatalf("error %v does not match ErrInvalidDSN", err)
	}
	var de *secretsql.DSNError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *DSNError", err)
	}
	if key != "" && de.Key != key {
		t.Errorf("DSNError.Key = %q, want %q (%v)", de.Key, key, err)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), url.QueryEscape(password)) {
		t.Errorf("error %q contains the password", err)
	}
}
