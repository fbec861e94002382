package testdb

import (
	"context"
	"fmt"
)

// NewStandalone is [Open] for programs that are not tests (the benchmark
// suite of internal/bench): it creates a fresh database and login user on
// the server for engine and returns them with a drop function, which the
// caller must call when done (it closes Admin, ends the sessions of the
// database and of its users, then drops them all). Unlike [Open] it never
// skips or fails a test: an unreachable server is an error, whose message
// names the command that starts the test bed.
func NewStandalone(ctx context.Context, engine string) (*DB, func(context.Context) error, error) {
	srv, err := serverFor(engine)
	if err != nil {
		return nil, nil, fmt.Errorf("testdb: %w", err)
	}
	if err := srv.available(); err != nil {
		return nil, nil, fmt.Errorf("testdb: %s on %s:%d is not usable: %w; start the test bed with %s",
			srv.name(), Host, srv.port(), err, StartCommand)
	}
	db, err := create(ctx, srv, engine)
	if err != nil {
		return nil, nil, err
	}
	return db, db.drop, nil
}
