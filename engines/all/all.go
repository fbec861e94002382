// Package all registers every secretsql engine: postgres and redshift (pgx),
// mysql and mariadb (go-sql-driver/mysql), sqlserver (go-mssqldb) and oracle
// (go-ora/v2).
//
//	import _ "github.com/secretsql/secretsql/engines/all"
package all

import (
	_ "github.com/secretsql/secretsql/engines/mysql"     // secretsmanager-mysql, secretsmanager-mariadb
	_ "github.com/secretsql/secretsql/engines/oracle"    // secretsmanager-oracle
	_ "github.com/secretsql/secretsql/engines/postgres"  // secretsmanager-postgres, secretsmanager-redshift
	_ "github.com/secretsql/secretsql/engines/sqlserver" // secretsmanager-sqlserver
)
