// Package registry is the bridge between package engine, which records the
// engines, and the root package secretsql, which registers a database/sql
// driver for each: engine cannot import the root package (the root imports
// engine), so the root installs a hook here from its init function, and
// every engine name announced before that is handed to the hook when it is
// installed.
package registry

import "sync"

var (
	mu      sync.Mutex
	hook    func(name string)
	pending []string
)

// Announce hands the name of a newly recorded engine to the hook, at once
// if it is installed, else when it is. A panic of the hook (a database/sql
// driver of that name exists already) reaches the caller.
func Announce(name string) {
	mu.Lock()
	defer mu.Unlock()
	if hook == nil {
		pending = append(pending, name)
		return
	}
	hook(name)
}

// SetHook installs f, then calls it with every name announced so far, in
// order. It panics if a hook is installed already.
func SetHook(f func(name string)) {
	mu.Lock()
	defer mu.Unlock()
	if hook != nil {
		panic("secretsql: registry hook installed twice")
	}
	hook = f
	names := pending
	pending = nil
	for _, name := range names {
		f(name)
	}
}
