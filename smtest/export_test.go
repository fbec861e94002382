package smtest

import "time"

// WithTimeouts replaces the server's limits on reading a request's header
// and body and on keeping an idle connection, for tests that cannot wait
// for the defaults.
func WithTimeouts(header, body, idle time.Duration) Option {
	return func(o *options) { o.limits = connLimits{header: header, body: body, idle: idle} }
}
