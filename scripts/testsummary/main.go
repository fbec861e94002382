// Command testsummary turns the output of `go test -json` into a short,
// readable report and exits with status 1 if any test or package failed:
//
//	go test -json ./... 2>&1 | go run ./scripts/testsummary
//
// For each package it prints the full output of every failed test, one line
// per skipped test with its reason (so that integration tests skipped for
// lack of a database are visible), a count of passed, skipped and failed
// tests (subtests included), and finally go test's own "ok" or "FAIL" line.
// Lines that are not JSON (go command errors) are copied through.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	ok, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus the
// build events of Go 1.24).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

// pkgState accumulates one package's results until it finishes.
type pkgState struct {
	passed, skipped, failed int
	running                 map[string][]string // output of tests not finished yet
	skips                   []string            // "TestX: reason"
	output                  []string            // package-level output
}

// summarize reads go test -json from r and writes the report to w. It
// reports whether everything passed.
func summarize(r io.Reader, w io.Writer) (bool, error) {
	pkgs := map[string]*pkgState{}
	state := func(name string) *pkgState {
		p := pkgs[name]
		if p == nil {
			p = &pkgState{running: map[string][]string{}}
			pkgs[name] = p
		}
		return p
	}
	allOK := true
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		var e event
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil {
			fmt.Fprintln(w, line)
			continue
		}
		switch e.Action {
		case "build-output":
			fmt.Fprint(w, e.Output)
		case "build-fail":
			allOK = false
		case "output":
			p := state(e.Package)
			if e.Test == "" {
				p.output = append(p.output, e.Output)
			} else {
				p.running[e.Test] = append(p.running[e.Test], e.Output)
			}
		case "pass", "fail", "skip":
			p := state(e.Package)
			if e.Test != "" {
				p.finishTest(w, e)
				continue
			}
			if e.Action == "fail" {
				allOK = false
			}
			p.finishPackage(w, e)
			delete(pkgs, e.Package)
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	// Packages whose end never came (go test was killed): say so.
	names := make([]string, 0, len(pkgs))
	for name := range pkgs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		allOK = false
		pkgs[name].finishPackage(w, event{Action: "fail", Package: name})
		fmt.Fprintf(w, "FAIL\t%s\t[no result: go test did not finish]\n", name)
	}
	return allOK, nil
}

// isFraming reports whether an output line only frames a test's progress.
func isFraming(line string) bool {
	t := strings.TrimSpace(line)
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

func (p *pkgState) finishTest(w io.Writer, e event) {
	out := p.running[e.Test]
	delete(p.running, e.Test)
	switch e.Action {
	case "pass":
		p.passed++
	case "skip":
		p.skipped++
		var reason []string
		for _, l := range out {
			t := strings.TrimSpace(l)
			if t == "" || isFraming(l) || strings.HasPrefix(t, "--- SKIP") {
				continue
			}
			reason = append(reason, t)
		}
		p.skips = append(p.skips, e.Test+": "+strings.Join(reason, " "))
	case "fail":
		p.failed++
		for _, l := range out {
			if !isFraming(l) {
				fmt.Fprint(w, l)
			}
		}
	}
}

func (p *pkgState) finishPackage(w io.Writer, e event) {
	// Tests still running when the package ended (a panic or a timeout):
	// their output explains the failure.
	if e.Action == "fail" {
		names := make([]string, 0, len(p.running))
		for name := range p.running {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(w, "--- UNFINISHED: %s\n", name)
			for _, l := range p.running[name] {
				if !isFraming(l) {
					fmt.Fprint(w, l)
				}
			}
		}
	}
	for _, s := range p.skips {
		fmt.Fprintf(w, "    SKIP %s\n", s)
	}
	if total := p.passed + p.skipped + p.failed; total > 0 {
		fmt.Fprintf(w, "    %d passed, %d skipped, %d failed (tests and subtests)\n", p.passed, p.skipped, p.failed)
	}
	for _, l := range p.output {
		t := strings.TrimSpace(l)
		// "PASS" and "FAIL" alone repeat the package result; the final
		// ok/FAIL line with the package name and time is kept.
		if t == "PASS" || t == "FAIL" || t == "" {
			continue
		}
		fmt.Fprint(w, l)
		if !strings.HasSuffix(l, "\n") {
			fmt.Fprintln(w)
		}
	}
}
