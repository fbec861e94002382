package registry

import (
	"slices"
	"testing"
)

// reset forgets the hook and the pending names; the test binary of this
// package links no root package, so no real hook is lost.
func reset(t *testing.T) {
	t.Helper()
	mu.Lock()
	hook, pending = nil, nil
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		hook, pending = nil, nil
		mu.Unlock()
	})
}

func TestAnnouncedBeforeTheHookReachItInOrder(t *testing.T) {
	reset(t)
	Announce("b")
	Announce("a")
	var got []string
	SetHook(func(name string) { got = append(got, name) })
	if want := []string{"b", "a"}; !slices.Equal(got, want) {
		t.Fatalf("hook got %v at install, want %v", got, want)
	}
	Announce("c")
	if want := []string{"b", "a", "c"}; !slices.Equal(got, want) {
		t.Fatalf("hook got %v after a later Announce, want %v", got, want)
	}
	mu.Lock()
	n := len(pending)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("%d names still pending after the hook ran", n)
	}
}

func TestSecondHookPanics(t *testing.T) {
	reset(t)
	SetHook(func(string) {})
	defer func() {
		if recover() == nil {
			t.Fatal("a second SetHook did not panic")
		}
	}()
	SetHook(func(string) {})
}

// TestHookPanicReachesAnnounce: a driver name taken already makes
// sql.Register panic inside the hook; the panic must reach the engine's
// Register, like sql.Register's own, and leave the registry usable.
func TestHookPanicReachesAnnounce(t *testing.T) {
	reset(t)
	SetHook(func(name string) {
		if name == "taken" {
			panic("taken")
		}
	})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the hook's panic did not reach Announce")
			}
		}()
		Announce("taken")
	}()
	if !mu.TryLock() {
		mu.Unlock() // for the cleanup
		t.Fatal("the hook's panic left the registry locked")
	}
	mu.Unlock()
}
