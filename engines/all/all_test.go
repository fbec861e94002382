package all_test

import (
	"database/sql"
	"slices"
	"testing"

	"github.com/secretsql/secretsql/engine"
	_ "github.com/secretsql/secretsql/engines/all"
)

func TestAllEnginesRegistered(t *testing.T) {
	want := []string{"mariadb", "mysql", "oracle", "postgres", "redshift", "sqlserver"}
	var got []string
	for _, e := range engine.All() {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("engines = %v, want %v", got, want)
	}
	for _, e := range want {
		if !slices.Contains(sql.Drivers(), engine.DriverPrefix+e) {
			t.Errorf("driver %s%s not registered", engine.DriverPrefix, e)
		}
	}
}
