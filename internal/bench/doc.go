// Package bench is secretsql's macro benchmark suite: it measures the
// driver against the real PostgreSQL and MariaDB servers of the test bed
// (internal/testdb, scripts/testbed.sh), with the Secrets Manager emulator
// smtest, and compares it with the raw native driver, a naive
// fetch-on-every-connect hook and two baselines modelled on AWS's own
// clients: a refresh-on-failure one like the Secrets Manager JDBC wrapper
// ([Baseline]) and a refetch-per-failed-connect one like the AWS Advanced Go
// Wrapper ([GoWrapperLike]).
//
// The suite has five parts, each run per engine:
//
//  1. Connect latency: one new connection at a time, the alternatives
//     interleaved round by round (raw driver with a literal password,
//     secretsql with a warm cache, a bare BeforeConnect hook that calls
//     GetSecretValue on every connect).
//  2. Query throughput through a pool of 16 connections and 32 workers,
//     SELECT 1 and an indexed point read, raw against secretsql in
//     alternating rounds.
//  3. Cold storm: many concurrent first connects on a cold cache: how many
//     GetSecretValue calls (secretsql, naive, Go-wrapper-like), how long
//     until all are connected, and how many the server refused for lack of
//     connection slots (reported, not hidden).
//  4. Rotation drill: a pool under load while internal/rotation rotates the
//     secret (single user with a held setSecret→finishSecret window, and
//     alternating users), with secretsql and with both baselines: failed
//     queries, GetSecretValue calls, time from the password change to the
//     first new connection, latency, and a [Timeline] of the queries that
//     succeeded and failed per 100 ms. The Go-wrapper-like baseline's
//     single-user drills are set beside the peer's measured ones
//     ([PeerMeasurements]).
//  5. Memory: heap per cached secret and allocations per connect.
//
// [Run] runs the suite and returns a [Report], which renders as Markdown
// ([Report.Markdown]) and JSON. The command internal/bench/cmd/secretsql-bench
// (`make bench`) runs it and writes docs/BENCHMARKS.md and
// docs/benchmarks.json; tools/charts (a module of its own, so that the
// plotting library stays out of secretsql's go.mod) then draws each drill's
// timeline as docs/charts/*.svg ([ChartFile]).
package bench
