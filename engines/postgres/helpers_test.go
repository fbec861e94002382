package postgres

import (
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/secretsql/secretsql"
)

// configOf prepares params and builds the pgx configuration of c, as a
// connect of a Connector with that DSN does.
func configOf(c secretsql.Credentials, params url.Values) (*pgx.ConnConfig, error) {
	p, err := prepare(params)
	if err != nil {
		return nil, err
	}
	return config(c, p)
}
