// Package engine is the service provider interface of secretsql, as
// database/sql/driver is that of database/sql: what an engine implements
// to adapt one native database/sql driver to secretsql, and the registry
// of engines. Applications use package secretsql and import the engines
// they need under engines/ for their side effect; they need this package
// only to write an engine of their own (for a driver secretsql does not
// ship) or to list the engines registered.
//
// An engine's package implements [Engine] and calls [Register] from its init
// function. Register records the engine under its name, for
// secretsql.NewConnector and secretsql.RegisterDriver, and registers a
// database/sql driver named [DriverPrefix] + its name, such as
// "secretsmanager-postgres". That driver belongs to package secretsql,
// which this package does not import: it is registered once package
// secretsql is initialized, so an engine registered earlier gets its
// driver then. Every program that uses secretsql links that package (the
// engines under engines/ import it), and the Go runtime initializes it
// before main runs.
package engine
