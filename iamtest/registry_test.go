package iamtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"

	"github.com/secretsql/secretsql/iamtest"
)

// TestRegistryConcurrent: tests that each add their own key, with their own
// settings, while others add and remove theirs, never see each other's.
func TestRegistryConcurrent(t *testing.T) {
	t.Parallel()
	reg := &iamtest.Registry{Dir: t.TempDir()}
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for i := range 16 {
		wg.Go(func() {
			for round := range 4 {
				k, err := reg.Add(iamtest.AccessKey{Region: region, Lifetime: time.Duration(i+1) * time.Second})
				if err != nil {
					errc <- err
					return
				}
				// Not rdsToken: t.Fatal must not be called from this goroutine.
				tok, err := auth.BuildAuthToken(context.Background(), "127.0.0.1:5432", region, "app", creds(k))
				if err != nil {
					errc <- err
					return
				}
				now := time.Now()
				if _, _, err := reg.VerifyLogin(tok, "app", 5432, now); err != nil {
					errc <- fmt.Errorf("goroutine %d round %d: own key refused: %v", i, round, err)
				}
				// The key's own lifetime applies, not another test's.
				_, _, err = reg.VerifyLogin(tok, "app", 5432, now.Add(time.Duration(i+1)*time.Second+time.Second))
				if !errors.Is(err, iamtest.ErrExpired) {
					errc <- fmt.Errorf("goroutine %d: past its %d s lifetime: %v", i, i+1, err)
				}
				if err := reg.Remove(k.AccessKeyID); err != nil {
					errc <- err
				}
				if _, _, err := reg.VerifyLogin(tok, "app", 5432, now); !errors.Is(err, iamtest.ErrUnknownKey) {
					errc <- fmt.Errorf("goroutine %d: removed key: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	left, _ := os.ReadDir(reg.Dir)
	if len(left) != 0 {
		t.Errorf("%d files left in the registry", len(left))
	}
}

// TestRegistryHostileKeyID: the access key id comes from the token; one
// that names a file outside the registry is not read.
func TestRegistryHostileKeyID(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	reg := &iamtest.Registry{Dir: filepath.Join(parent, "keys")}
	if err := os.Mkdir(reg.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"../OUTSIDEKEY00000000", "..", "AKIA/../../OUTSIDE", "akialowercase0000000", "AKIA", strings.Repeat("A", 129)} {
		k := iamtest.AccessKey{AccessKeyID: id, SecretAccessKey: "s3cret-s3cret-s3cret"}
		// The file the id would name, if it were joined to the directory.
		name := filepath.Join(reg.Dir, id+".json")
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err == nil {
			os.WriteFile(name, []byte(`{"access_key_id":"`+id+`","secret_access_key":"s3cret-s3cret-s3cret"}`), 0o644)
		}
		if _, err := reg.Add(k); err == nil {
			t.Errorf("Add accepted the access key id %q", id)
		}
		tok := presign(t, "127.0.0.1:5432", "rds-db", map[string]string{"Action": "connect", "DBUser": "app", "X-Amz-Expires": "900"}, k, time.Now())
		if _, _, err := reg.VerifyLogin(tok, "app", 5432, time.Now()); !errors.Is(err, iamtest.ErrUnknownKey) && !errors.Is(err, iamtest.ErrMalformed) {
			t.Errorf("access key id %q: %v, want ErrUnknownKey or ErrMalformed", id, err)
		}
	}
}

// TestRegistryLimits: an oversized key file is refused; a decision for a
// key without a log writes nothing.
func TestRegistryLimits(t *testing.T) {
	t.Parallel()
	reg := &iamtest.Registry{Dir: t.TempDir()}
	k, err := reg.Add(iamtest.AccessKey{})
	if err != nil {
		t.Fatal(err)
	}
	big := `{"access_key_id":"` + k.AccessKeyID + `","secret_access_key":"` + strings.Repeat("x", 70<<10) + `"}`
	if err := os.WriteFile(filepath.Join(reg.Dir, k.AccessKeyID+".json"), []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := reg.Get(k.AccessKeyID); err == nil || got != nil {
		t.Errorf("a 70 KiB key file: %v, %v; want an error", got, err)
	}
	other := iamtest.NewKey(iamtest.AccessKey{})
	if err := reg.Record(other.AccessKeyID, iamtest.Decision{User: "u"}); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(reg.Dir, other.AccessKeyID+".log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a decision for an unknown key created its log: %v", err)
	}
}

// TestAccessKeyPrints: no fmt form of an AccessKey shows its secrets.
func TestAccessKeyPrints(t *testing.T) {
	t.Parallel()
	k := iamtest.NewKey(iamtest.AccessKey{SessionToken: "SESSIONTOKENSESSIONTOKEN"})
	for _, s := range []string{
		fmt.Sprintf("%v %+v %#v %s", k, k, k, k),
		fmt.Sprintf("%v %+v %#v %s", &k, &k, &k, &k),
		fmt.Sprintf("%v", []iamtest.AccessKey{k}),
	} {
		if strings.Contains(s, k.SecretAccessKey) || strings.Contains(s, k.SessionToken) {
			t.Errorf("%q shows a secret", s)
		}
		if !strings.Contains(s, k.AccessKeyID) {
			t.Errorf("%q does not name the key", s)
		}
	}
}
