package main

import (
	"os"
	"strings"
	"testing"
)

// testdata/mixed.json is `go test -json` of a package with a passing test
// and subtest, a skipped test and a failing subtest.
func TestSummarizeMixed(t *testing.T) {
	f, err := os.Open("testdata/mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	ok, err := summarize(f, &out)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("summarize reported success for a failed package")
	}
	want := `    x_test.go:5: boom
--- FAIL: TestBad/inner (0.00s)
    x_test.go:5: context line
--- FAIL: TestBad (0.00s)
    SKIP TestSkip: x_test.go:4: no database: run testbed
    2 passed, 1 skipped, 2 failed (tests and subtests)
FAIL	tsx	0.004s
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestSummarizePassAndNoTests(t *testing.T) {
	in := `{"Action":"start","Package":"a"}
{"Action":"run","Package":"a","Test":"TestA"}
{"Action":"output","Package":"a","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"a","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"pass","Package":"a","Test":"TestA"}
{"Action":"output","Package":"a","Output":"PASS\n"}
{"Action":"output","Package":"a","Output":"ok  \ta\t0.01s\n"}
{"Action":"pass","Package":"a"}
{"Action":"start","Package":"b"}
{"Action":"output","Package":"b","Output":"?   \tb\t[no test files]\n"}
{"Action":"skip","Package":"b"}
`
	var out strings.Builder
	ok, err := summarize(strings.NewReader(in), &out)
	if err != nil || !ok {
		t.Fatalf("summarize = %v, %v; want success", ok, err)
	}
	want := "    1 passed, 0 skipped, 0 failed (tests and subtests)\nok  \ta\t0.01s\n?   \tb\t[no test files]\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestSummarizeBuildFailureAndCrash(t *testing.T) {
	in := `go: some go command error
{"ImportPath":"c","Action":"build-output","Output":"c/c.go:1:1: syntax error\n"}
{"ImportPath":"c","Action":"build-fail"}
{"Action":"start","Package":"d"}
{"Action":"run","Package":"d","Test":"TestHang"}
{"Action":"output","Package":"d","Test":"TestHang","Output":"panic: test timed out\n"}
`
	var out strings.Builder
	ok, err := summarize(strings.NewReader(in), &out)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("summarize reported success")
	}
	for _, want := range []string{
		"go: some go command error\n",
		"c/c.go:1:1: syntax error\n",
		"--- UNFINISHED: TestHang\npanic: test timed out\n",
		"FAIL\td\t[no result: go test did not finish]\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
