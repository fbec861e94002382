package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secretsql/secretsql"
)

// TestAgentHostileAnswers: an endpoint at the agent's address that echoes
// the request (token included), or answers a JSON error of 900,185 bytes
// with raw line breaks and terminal escapes. The error, the events and the
// log (text and JSON) never hold the token nor a control character, and
// the error stays short (issue 19, finding 10).
func TestAgentHostileAnswers(t *testing.T) {
	const token = "ssrf-Hostile-9c2e41d7"
	agentEnv(t, token)
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
		{"echo in JSON", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			m, _ := json.Marshal("your token: " + r.Header.Get("X-Aws-Parameters-Secrets-Token") + forged)
			fmt.Fprintf(w, `{"__type":"ValidationException","message":%s}`, m)
		}},
		{"huge JSON message", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			m, _ := json.Marshal(huge)
			fmt.Fprintf(w, `{"__type":"ValidationException","message":%s}`, m)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.h)
			defer srv.Close()
			var (
				mu   sync.Mutex
				evs  []string
				logs bytes.Buffer
			)
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			jlogger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			for i, l := range []*slog.Logger{logger, jlogger} {
				c, err := secretsql.NewConnector("postgres", fmt.Sprintf("prod/hostile-%d?source=agent&agent=%s", i, strings.TrimPrefix(srv.URL, "http://")),
					secretsql.WithCache(secretsql.NewCache()), secretsql.WithLogger(l),
					secretsql.WithObserver(func(ev secretsql.Event) {
						mu.Lock()
						defer mu.Unlock()
						if ev.Err != nil {
							evs = append(evs, ev.Err.Error(), fmt.Sprintf("%+v", ev))
						}
					}))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err = c.Resolve(ctx)
				cancel()
				c.Close()
				if err == nil {
					t.Fatal("no error")
				}
				t.Logf("error of %d bytes: %v", len(err.Error()), err)
				if len(err.Error()) > 1024 {
					t.Errorf("an error of %d bytes", len(err.Error()))
				}
				mu.Lock()
				evs = append(evs, err.Error(), fmt.Sprintf("%+v", err))
				mu.Unlock()
			}
			mu.Lock()
			defer mu.Unlock()
			if len(evs) < 4 {
				t.Errorf("%d texts of events and errors, want the events' too", len(evs))
			}
			for _, s := range append(evs, logs.String()) {
				if strings.Contains(s, token) {
					t.Errorf("the token in %q", s)
				}
			}
			for _, s := range evs {
				if strings.ContainsAny(s, "\n\r\x1b") {
					t.Errorf("a control character in %q", s)
				}
			}
			if lines := strings.Count(logs.String(), "\n"); lines > 8 || strings.ContainsAny(logs.String(), "\r\x1b") {
				t.Errorf("the log has %d lines or a raw control character:\n%s", lines, logs.String())
			}
			if strings.Contains(logs.String(), "\nforged") || strings.Contains(logs.String(), "\n2026-12-06T06:00:00Z ERROR") {
				t.Errorf("a forged log line:\n%s", logs.String())
			}
		})
	}
}
