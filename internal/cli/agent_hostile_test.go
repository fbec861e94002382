package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCheckAgentHostileAnswers: check --json against an endpoint at the
// agent's address that echoes the request (the SSRF token included) or
// answers a JSON error of 900,185 bytes with raw line breaks and terminal
// escapes: the report holds neither the token (cli fails the test if any
// output does) nor a control character, and its error is short (issue 19,
// finding 10).
func TestCheckAgentHostileAnswers(t *testing.T) {
	const token = "ssrf-Check-5f0a7e93"
	forged := "\n2026-12-06T06:00:00Z ERROR \x1b[31mforged log line\r\n"
	huge := forged + strings.Repeat("A", 900185-len(forged))
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"echo", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			_ = r.Header.Write(w)
		}},
		{"huge JSON message", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			m, _ := json.Marshal(huge)
			fmt.Fprintf(w, `{"__type":"ValidationException","message":%s}`, m)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t, [][2]string{{"AWS_TOKEN", token}, {"AWS_REGION", "us-east-1"},
				{"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", ""}})
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			r := cli(t, []string{token}, "check", "prod/app", "--dsn-params",
				"source=agent&agent="+strings.TrimPrefix(srv.URL, "http://"), "--json")
			wantCode(t, r, exitUnreadable)
			rep := decodeReport(t, r)
			texts := append([]string{rep.Error}, rep.Hints...)
			for _, f := range rep.Fetches {
				texts = append(texts, f.Error)
			}
			for _, s := range texts {
				if len(s) > 1024 || strings.ContainsAny(s, "\n\r\x1b") {
					t.Errorf("a text of %d bytes, or with a control character, in the report: %q", len(s), s[:min(len(s), 300)])
				}
			}
			if rep.Error == "" || len(rep.Fetches) == 0 {
				t.Errorf("no error or no fetch in the report: %+v", rep)
			}
		})
	}
}
