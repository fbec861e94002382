// Package csitest lays secrets out in a directory as the Secrets Store CSI
// driver does, for tests of secretsql's file: source.
package csitest

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Mount is a directory laid out as the CSI driver lays out a mounted
// secret: the file Name is a symlink to ..data/Name, and ..data a symlink
// to a timestamped directory, swapped atomically (a new symlink renamed over
// ..data) for each version the driver writes.
type Mount struct {
	t    testing.TB
	dir  string
	name string
	seq  int
}

// New makes a mount of secret name holding value in a temporary directory
// of the test.
func New(t testing.TB, name, value string) *Mount {
	t.Helper()
	m := &Mount{t: t, dir: t.TempDir(), name: name}
	m.Write(value)
	if err := os.Symlink(filepath.Join("..data", name), filepath.Join(m.dir, name)); err != nil {
		t.Fatal(err)
	}
	return m
}

// Path is the file a file: DSN names.
func (m *Mount) Path() string { return filepath.Join(m.dir, m.name) }

// Write puts value in a new timestamped directory and swaps ..data to it,
// as the driver does for a new version.
func (m *Mount) Write(value string) {
	m.t.Helper()
	m.seq++
	ts := "..2026_11_30_06_00_00." + strconv.Itoa(m.seq)
	if err := os.Mkdir(filepath.Join(m.dir, ts), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.dir, ts, m.name), []byte(value), 0o644); err != nil {
		m.t.Fatal(err)
	}
	tmp := filepath.Join(m.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, "..data")); err != nil {
		m.t.Fatal(err)
	}
}
