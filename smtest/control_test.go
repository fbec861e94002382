package smtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretsql/secretsql/smtest"
)

func getIn(id string) *secretsmanager.GetSecretValueInput {
	return &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}
}

func TestFailNext(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	srv.CreateSecret("db", "v1")

	srv.FailNext("GetSecretValue", 2, "ThrottlingException")
	for range 2 {
		_, err := c.GetSecretValue(ctx, getIn("db"))
		wantCode(t, err, "ThrottlingException")
		if s := httpStatus(t, err); s != 400 {
			t.Fatalf("ThrottlingException status %d, want 400", s)
		}
	}
	if getString(t, c, "db") != "v1" {
		t.Fatal("third call failed")
	}

	srv.FailNext("GetSecretValue", 1, "InternalServiceError")
	_, err := c.GetSecretValue(ctx, getIn("db"))
	wantErr[*types.InternalServiceError](t, err)
	if s := httpStatus(t, err); s != 500 {
		t.Fatalf("InternalServiceError status %d, want 500", s)
	}

	// Another operation is not affected by an operation-specific fault.
	srv.FailNext("DescribeSecret", 1, "InternalFailure")
	getString(t, c, "db")
	_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})
	wantCode(t, err, "InternalFailure")

	// "" matches any operation; faults queue in order.
	srv.FailNext("", 1, "ServiceUnavailable")
	srv.FailNext("", 1, "ResourceNotFoundException")
	_, err = c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	wantCode(t, err, "ServiceUnavailable")
	if s := httpStatus(t, err); s != 500 {
		t.Fatalf("ServiceUnavailable status %d", s)
	}
	_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})
	wantErr[*types.ResourceNotFoundException](t, err)

	// n <= 0 cancels pending faults.
	srv.FailNext("GetSecretValue", 5, "ThrottlingException")
	srv.FailNext("GetSecretValue", 0, "")
	getString(t, c, "db")

	// Injected failures are counted and logged.
	if n := srv.Calls("GetSecretValue"); n != 6 {
		t.Fatalf("Calls(GetSecretValue) = %d, want 6", n)
	}
	var codes []string
	for _, call := range srv.Log() {
		if call.Operation == "GetSecretValue" {
			codes = append(codes, call.ErrorCode)
		}
	}
	want := []string{"ThrottlingException", "ThrottlingException", "", "InternalServiceError", "", ""}
	if !slices.Equal(codes, want) {
		t.Fatalf("logged codes %q, want %q", codes, want)
	}
}

func TestSetLatency(t *testing.T) {
	srv, c := newServer(t)
	srv.CreateSecret("db", "v1")

	srv.SetLatency("GetSecretValue", 10*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetSecretValue(ctx, getIn("db"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("client waited %v", d)
	}
	// The handler notices the client left and stops waiting.
	waitFor(t, 5*time.Second, func() bool {
		log := srv.Log()
		return len(log) == 1 && log[0].ErrorCode == "RequestCanceled"
	})

	// Other operations are not delayed; an operation-specific latency wins
	// over the "" one.
	start = time.Now()
	ok(c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")}))(t)
	srv.SetLatency("", 10*time.Second)
	srv.SetLatency("GetSecretValue", 150*time.Millisecond)
	getString(t, c, "db")
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Fatalf("calls took %v, want about 150ms", d)
	}
	srv.SetLatency("", 0)
	srv.SetLatency("GetSecretValue", 0)
	start = time.Now()
	getString(t, c, "db")
	if d := time.Since(start); d > 5*time.Second { // the "" latency was 10s
		t.Fatalf("latency not removed: %v", d)
	}

	// Close does not wait for the latency to elapse.
	srv.SetLatency("", time.Minute)
	done := make(chan error, 1)
	go func() {
		_, err := c.GetSecretValue(context.Background(), getIn("db"))
		done <- err
	}()
	waitFor(t, 5*time.Second, func() bool { return srv.Calls("GetSecretValue") == 4 })
	start = time.Now()
	srv.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-done; err == nil {
		t.Fatal("delayed call succeeded after Close")
	}
}

func TestOutageAndRestore(t *testing.T) {
	srv, c := newServer(t)
	srv.CreateSecret("db", "v1")
	url := srv.URL
	getString(t, c, "db") // leaves an idle keep-alive connection behind

	srv.Outage()
	srv.Outage() // idempotent
	_, err := c.GetSecretValue(t.Context(), getIn("db"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("during outage got %v, want connection refused", err)
	}
	if conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://")); err == nil {
		conn.Close()
		t.Fatal("dial succeeded during outage")
	}

	srv.Restore()
	srv.Restore() // idempotent
	if srv.URL != url {
		t.Fatalf("URL changed from %s to %s", url, srv.URL)
	}
	if getString(t, c, "db") != "v1" {
		t.Fatal("store lost across outage")
	}
	if n := srv.Calls("GetSecretValue"); n != 2 {
		t.Fatalf("Calls = %d, want 2 (the refused call never reached the server)", n)
	}
	// A fresh client made before the outage also works.
	if getString(t, srv.Client(), "db") != "v1" {
		t.Fatal("new client failed after Restore")
	}
}

func TestLogAndCounters(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	start := time.Now()

	create := ok(c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("v1")}))(t)
	arn := aws.ToString(create.ARN)
	partial := arn[:len(arn)-7]
	getString(t, c, "db")
	get(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSCURRENT")})
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(partial), VersionStage: aws.String("AWSPENDING")})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.GetSecretValue(ctx, getIn("missing"))
	wantErr[*types.ResourceNotFoundException](t, err)
	put := ok(c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("db"), SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"},
	}))(t)
	ok(c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("db"), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: put.VersionId, RemoveFromVersionId: create.VersionId,
	}))(t)
	ok(c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{partial, "missing"}}))(t)

	log := srv.Log()
	type row struct{ op, id, name, stage, vid, code string }
	var got []row
	for i, call := range log {
		got = append(got, row{call.Operation, call.SecretID, call.SecretName, call.VersionStage, call.VersionID, call.ErrorCode})
		if call.Time.Before(start.Add(-time.Second)) || (i > 0 && call.Time.Before(log[i-1].Time)) {
			t.Fatalf("log entry %d has time %v", i, call.Time)
		}
	}
	want := []row{
		{"CreateSecret", "db", "db", "", aws.ToString(create.VersionId), ""},
		{"GetSecretValue", "db", "db", "", "", ""},
		{"GetSecretValue", arn, "db", "AWSCURRENT", "", ""},
		{"GetSecretValue", partial, "db", "AWSPENDING", "", "ResourceNotFoundException"},
		{"GetSecretValue", "missing", "", "", "", "ResourceNotFoundException"},
		{"PutSecretValue", "db", "db", "AWSPENDING", aws.ToString(put.VersionId), ""},
		{"UpdateSecretVersionStage", "db", "db", "AWSCURRENT", aws.ToString(put.VersionId), ""},
		{"BatchGetSecretValue", "", "", "", "", ""},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("log:\n got %q\nwant %q", got, want)
	}
	if !slices.Equal(log[7].SecretIDs, []string{partial, "missing"}) {
		t.Fatalf("batch SecretIDs %q", log[7].SecretIDs)
	}

	for _, tc := range []struct {
		op, id string
		want   int
	}{
		{"GetSecretValue", "db", 3},
		{"GetSecretValue", arn, 3},
		{"GetSecretValue", partial, 3},
		{"GetSecretValue", "missing", 1},
		{"BatchGetSecretValue", "db", 1},
		{"BatchGetSecretValue", "missing", 1},
		{"CreateSecret", arn, 1},
		{"PutSecretValue", "other", 0},
	} {
		if n := srv.SecretCalls(tc.op, tc.id); n != tc.want {
			t.Errorf("SecretCalls(%s, %s) = %d, want %d", tc.op, tc.id, n, tc.want)
		}
	}
	if srv.Calls("GetSecretValue") != 4 || srv.Calls("CreateSecret") != 1 || srv.Calls("") != 8 || srv.Calls("DeleteSecret") != 0 {
		t.Fatalf("Calls: get %d create %d total %d", srv.Calls("GetSecretValue"), srv.Calls("CreateSecret"), srv.Calls(""))
	}

	// Calls keep being attributed to the secret after it is force-deleted.
	ok(c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db"), ForceDeleteWithoutRecovery: aws.Bool(true)}))(t)
	if n := srv.SecretCalls("GetSecretValue", arn); n != 3 {
		t.Fatalf("SecretCalls after delete = %d", n)
	}

	srv.ResetCalls()
	if srv.Calls("") != 0 || srv.Calls("GetSecretValue") != 0 || len(srv.Log()) != 0 || srv.SecretCalls("GetSecretValue", "db") != 0 {
		t.Fatal("ResetCalls left counts behind")
	}
}

// TestConcurrentUse hammers one server from 64 goroutines (50 mixed calls
// each) while the test reads counters and changes controls; run with -race.
func TestConcurrentUse(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	const workers, perWorker = 64, 50
	for i := range 8 {
		srv.CreateSecret(fmt.Sprintf("shared/%d", i), fmt.Sprintf("value-%d", i))
	}

	stop := make(chan struct{})
	var observers sync.WaitGroup
	observers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = srv.Calls("GetSecretValue")
			_ = srv.SecretCalls("GetSecretValue", "shared/0")
			_ = srv.Log()
			_ = srv.SecretVersions("shared/1")
			srv.SetLatency("ListSecrets", time.Millisecond)
			srv.Deny("nobody")
			srv.Allow("nobody")
			time.Sleep(time.Millisecond)
		}
	})

	errs := make(chan error, workers*perWorker)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			own := fmt.Sprintf("worker/%d", w)
			if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(own), SecretString: aws.String("0")}); err != nil {
				errs <- err
				return
			}
			for i := 1; i < perWorker; i++ {
				var err error
				switch i % 7 {
				case 0:
					var out *secretsmanager.GetSecretValueOutput
					out, err = c.GetSecretValue(ctx, getIn(fmt.Sprintf("shared/%d", i%8)))
					if err == nil && aws.ToString(out.SecretString) != fmt.Sprintf("value-%d", i%8) {
						err = fmt.Errorf("shared/%d = %q", i%8, aws.ToString(out.SecretString))
					}
				case 1:
					_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
						SecretId: aws.String(own), SecretString: aws.String(fmt.Sprint(i)),
					})
				case 2:
					var out *secretsmanager.GetSecretValueOutput
					out, err = c.GetSecretValue(ctx, getIn(own))
					if err == nil && aws.ToString(out.SecretString) != fmt.Sprint(i-1) {
						err = fmt.Errorf("%s = %q, want %d", own, aws.ToString(out.SecretString), i-1)
					}
				case 3:
					_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(own)})
				case 4:
					_, err = c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{
						SecretIdList: []string{own, "shared/1", "shared/2"},
					})
				case 5:
					_, err = c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(own)})
				case 6:
					_, err = c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(10)})
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d call %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	observers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.Calls(""); n != workers*perWorker {
		t.Fatalf("Calls(\"\") = %d, want %d", n, workers*perWorker)
	}
	for w := range workers {
		vs := srv.SecretVersions(fmt.Sprintf("worker/%d", w))
		current := 0
		for _, stages := range vs {
			if slices.Contains(stages, "AWSCURRENT") {
				current++
			}
		}
		if current != 1 || len(vs) != 2 {
			t.Fatalf("worker/%d versions %v", w, vs)
		}
	}
}

func TestLifecycle(t *testing.T) {
	// A fixed address, freed by Close and reusable by a new server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()

	// Start reports an address in use; NewServer panics on it.
	if _, err := smtest.Start(smtest.WithAddr(addr)); err == nil {
		t.Fatal("Start on a busy address succeeded")
	}
	mustPanic(t, func() { smtest.NewServer(smtest.WithAddr(addr)) })
	ln.Close()

	srv, err := smtest.Start(smtest.WithAddr(addr))
	if err != nil {
		t.Fatal(err)
	}
	if srv.URL != "http://"+addr || srv.Region != "us-east-1" || srv.AccountID != "123456789012" {
		t.Fatalf("URL %q Region %q AccountID %q", srv.URL, srv.Region, srv.AccountID)
	}
	srv.CreateSecret("db", "v1")
	c := srv.Client()
	getString(t, c, "db")
	srv.Close()
	srv.Close() // idempotent
	srv.Restore()
	if _, err := c.GetSecretValue(t.Context(), getIn("db")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("after Close and Restore got %v, want connection refused", err)
	}
	srv2, err := smtest.Start(smtest.WithAddr(addr))
	if err != nil {
		t.Fatalf("address not released by Close: %v", err)
	}
	srv2.Close()

	// Outage then Close.
	srv3 := smtest.NewServer()
	srv3.Outage()
	srv3.Close()
}

// waitFor waits until cond holds, failing the test if it does not within
// limit.
func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %s", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWithLogger(t *testing.T) {
	logger, logged := textLog()
	srv, c := newServer(t, smtest.WithLogger(logger))
	_, err := c.GetSecretValue(t.Context(), getIn("nope"))
	wantErr[*types.ResourceNotFoundException](t, err)
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(logged(), "error_code=ResourceNotFoundException") })
	out := logged()
	if !strings.Contains(out, "operation=GetSecretValue") || !strings.Contains(out, "secret_id=nope") || !strings.Contains(out, "status=400") {
		t.Fatalf("log output %q", out)
	}
	_ = srv
}

// textLog returns a text logger for WithLogger and a function that returns
// what it has logged so far.
func textLog() (*slog.Logger, func() string) {
	var mu sync.Mutex
	var buf strings.Builder
	logged := func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	return slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil)), logged
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestListenOnAllInterfaces(t *testing.T) {
	srv, c := newServer(t, smtest.WithAddr("0.0.0.0:0"))
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %q", srv.URL)
	}
	srv.CreateSecret("db", "v1")
	if getString(t, c, "db") != "v1" {
		t.Fatal("client failed")
	}
	srv.Outage()
	srv.Restore()
	if getString(t, c, "db") != "v1" {
		t.Fatal("client failed after Restore")
	}
}

// TestOutageRightAfterStart is a regression test: Outage used to rely on
// http.Server.Close, which cannot close a listener whose Serve goroutine has
// not run yet, so a request right after NewServer+Outage could connect into
// the socket's backlog and be reset instead of refused.
func TestOutageRightAfterStart(t *testing.T) {
	for i := range 200 {
		srv := smtest.NewServer()
		srv.CreateSecret("db", "v1")
		srv.Outage()
		_, err := srv.Client().GetSecretValue(t.Context(), getIn("db"))
		srv.Close()
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("round %d: during outage got %v, want connection refused", i, err)
		}
	}
}

// TestLargeResponsesOnFreshServers is a regression test for the race that
// plainBodies works around: a 64 KiB secret read right after the server
// starts failed in about 1 of 100 calls with "use of closed network
// connection" (net/http closed the connection after the SDK's closed request
// body reported io.EOF from WriteTo).
func TestLargeResponsesOnFreshServers(t *testing.T) {
	big := strings.Repeat("x", 64*1024-200)
	for i := range 300 {
		srv := smtest.NewServer()
		srv.CreateSecret("db", big)
		_, err := srv.Client().GetSecretValue(t.Context(), getIn("db"))
		srv.Close()
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
}
