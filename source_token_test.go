package secretsql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/secretsql/secretsql/iamtest"
)

func TestParseTokenDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn                string
		user, host, region string
		port               int
		db                 string
		dsql, plain        bool
		lifetime           time.Duration
	}{
		{dsn: "iam://app@mydb.abc123.eu-west-1.rds.amazonaws.com:5432/app?sslmode=verify-full", user: "app",
			host: "mydb.abc123.eu-west-1.rds.amazonaws.com", port: 5432, region: "eu-west-1", db: "app"},
		{dsn: "iam://app@cl.cluster-ro-abc.cn-north-1.rds.amazonaws.com.cn:3306", user: "app",
			host: "cl.cluster-ro-abc.cn-north-1.rds.amazonaws.com.cn", port: 3306, region: "cn-north-1"},
		{dsn: "iam://u@127.0.0.1:3306/db?region=us-east-1&allow_plaintext=true", user: "u", host: "127.0.0.1", port: 3306,
			region: "us-east-1", db: "db", plain: true},
		{dsn: "dsql://admin@abcdefghijklmnopqrst.dsql.us-east-1.on.aws/postgres?token_lifetime=5m", user: "admin",
			host: "abcdefghijklmnopqrst.dsql.us-east-1.on.aws", port: 5432, region: "us-east-1", db: "postgres", dsql: true,
			lifetime: 5 * time.Minute},
	} {
		d, err := parseDSN(tc.dsn)
		if err != nil {
			t.Errorf("%s: %v", tc.dsn, err)
			continue
		}
		tt := d.token
		if tt == nil || tt.user != tc.user || tt.host != tc.host || tt.port != tc.port || d.region != tc.region ||
			d.dbname != tc.db || tt.dsql != tc.dsql || tt.allowPlaintext != tc.plain || tt.lifetime != tc.lifetime {
			t.Errorf("%s: token %+v, region %q, dbname %q", tc.dsn, tt, d.region, d.dbname)
		}
	}
	for _, dsn := range []string{
		"iam://app@host/db",         // no port
		"iam://app:pw@host:5432/db", // a password
		"iam://@host:5432/db",       // no user
		"dsql://admin@x.dsql.us-east-1.on.aws:5433/postgres",
		"iam://app@h.abc.eu-west-1.rds.amazonaws.com:5432?region=us-east-1", // conflicting regions
		"iam://app@h:5432?host=other",
		"iam://app@h:5432?token_lifetime=5m", // DSQL only
		"iam://app@h:5432?stage=AWSPENDING",
		"prod/app?allow_plaintext=true",
		"dsql://admin@x.dsql.us-east-1.on.aws?token_lifetime=200h",
	} {
		if _, err := parseDSN(dsn); !errors.Is(err, ErrInvalidDSN) {
			t.Errorf("%s: %v, want ErrInvalidDSN", dsn, err)
		}
	}
}

func TestTokenParams(t *testing.T) {
	for _, tc := range []struct {
		engine, dsn string
		want        map[string]string // "" value: an error
	}{
		{"postgres", "iam://u@h:5432", map[string]string{"sslmode": "require"}},
		{"postgres", "iam://u@h:5432?sslmode=verify-full", map[string]string{"sslmode": "verify-full"}},
		{"postgres", "iam://u@h:5432?sslmode=disable", nil},
		{"postgres", "iam://u@h:5432?sslmode=prefer&allow_plaintext=true", map[string]string{"sslmode": "prefer"}},
		{"mysql", "iam://u@h:3306", map[string]string{"tls": "true", "allowCleartextPasswords": "true"}},
		{"mariadb", "iam://u@h:3306?tls=false", nil},
		{"mariadb", "iam://u@h:3306?allowCleartextPasswords=false", nil},
		{"mysql", "iam://u@h:3306?tls=custom", map[string]string{"tls": "custom", "allowCleartextPasswords": "true"}},
		{"sqlserver", "iam://u@h:1433", nil},
		{"mysql", "dsql://u@x.dsql.us-east-1.on.aws", nil},
	} {
		d, err := parseDSN(tc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		err = tokenParams(tc.engine, &d)
		if tc.want == nil {
			if !errors.Is(err, ErrInvalidDSN) {
				t.Errorf("%s %s: %v, want ErrInvalidDSN", tc.engine, tc.dsn, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tc.engine, tc.dsn, err)
		}
		for k, v := range tc.want {
			if got := d.params.Get(k); got != v {
				t.Errorf("%s %s: %s=%q, want %q", tc.engine, tc.dsn, k, got, v)
			}
		}
	}
}

// TestTokenSigning: the tokens the source signs pass the test bed's
// verifier (RDS and DSQL), are capped at the expiry of the credentials that
// signed them, never print the token, and a rejection signs a new one.
func TestTokenSigning(t *testing.T) {
	key := iamtest.NewKey(iamtest.AccessKey{})
	lookup := func(id string) (iamtest.Key, bool) { return key.Key(), id == key.AccessKeyID }
	for _, tc := range []struct {
		dsn  string
		want iamtest.Expect
	}{
		{"iam://app@mydb.abc.eu-west-1.rds.amazonaws.com:5432/app",
			iamtest.Expect{Mode: iamtest.RDS, User: "app", Endpoints: []string{"mydb.abc.eu-west-1.rds.amazonaws.com:5432"}, Region: "eu-west-1"}},
		{"dsql://admin@abc.dsql.us-east-1.on.aws/postgres?token_lifetime=1m",
			iamtest.Expect{Mode: iamtest.DSQL, User: "admin", Endpoints: []string{"abc.dsql.us-east-1.on.aws"}, Region: "us-east-1"}},
		{"dsql://app@abc.dsql.us-east-1.on.aws/postgres",
			iamtest.Expect{Mode: iamtest.DSQL, User: "app", Endpoints: []string{"abc.dsql.us-east-1.on.aws"}, Region: "us-east-1"}},
	} {
		d, err := parseDSN(tc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		expires := time.Now().Add(2 * time.Minute).Truncate(time.Second)
		creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey, CanExpire: true, Expires: expires}, nil
		})
		cfg, _ := newConfig([]Option{WithAWSConfig(aws.Config{Credentials: creds})})
		s, err := newTokenSource(&d, &cfg)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.fetch(context.Background(), fetchRequest{report: func(Event) {}})
		if err != nil {
			t.Fatal(err)
		}
		want := tc.want
		want.Now = time.Now()
		if _, err := iamtest.Verify(f.cred.Password(), want, lookup); err != nil {
			t.Errorf("%s: the verifier refuses the token: %v", tc.dsn, err)
		}
		wantExpiry := want.Now.Add(15 * time.Minute)
		if strings.Contains(tc.dsn, "token_lifetime=1m") {
			wantExpiry = want.Now.Add(time.Minute)
		}
		if wantExpiry.After(expires) {
			wantExpiry = expires
		}
		if d := f.cred.Expiry.Sub(wantExpiry); d > time.Second || d < -time.Second {
			t.Errorf("%s: expiry %v, want %v (capped at the credentials' %v)", tc.dsn, f.cred.Expiry, wantExpiry, expires)
		}
		if s := fmtAll(f.cred); strings.Contains(s, f.cred.Password()) {
			t.Errorf("%s: the credential prints its token", tc.dsn)
		}
		again, _ := s.fetch(context.Background(), fetchRequest{report: func(Event) {}})
		if again.cred.Version != f.cred.Version && f.cred.Expiry.Equal(expires) {
			t.Errorf("%s: a plain read signed again a token capped at the same credentials' expiry", tc.dsn)
		}
		time.Sleep(time.Second) // a new X-Amz-Date
		next, _ := s.fetch(context.Background(), fetchRequest{rejected: f.cred.Version, report: func(Event) {}})
		if next.cred.Version == f.cred.Version {
			t.Errorf("%s: a rejection did not sign a new token", tc.dsn)
		}
	}
	// A provider that fails: an error that names the source, never a key.
	d, _ := parseDSN("iam://app@h:5432?region=us-east-1")
	cfg, _ := newConfig([]Option{WithAWSConfig(aws.Config{Credentials: credentials.NewStaticCredentialsProvider("", "", "")})})
	s, err := newTokenSource(&d, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.fetch(context.Background(), fetchRequest{report: func(Event) {}}); !errors.Is(err, ErrSourceFailed) {
		t.Errorf("empty static credentials: %v, want ErrSourceFailed", err)
	}
}

// fmtAll prints v with every fmt verb that could show a field.
func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s %q", v, v, v, v, v)
}
