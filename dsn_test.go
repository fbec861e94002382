package secretsql

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestParseDSN(t *testing.T) {
	const arnID = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app-AbCdEf"
	tests := []struct {
		dsn  string
		want dsnConfig
	}{
		{"prod/app", dsnConfig{secretID: "prod/app"}},
		{arnID, dsnConfig{secretID: arnID}},
		{"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app", dsnConfig{secretID: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app"}},
		{"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x", dsnConfig{secretID: "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x"}},
		{arnID + "?region=eu-west-1&sslmode=require", dsnConfig{secretID: arnID, region: "eu-west-1"}},
		{"db?host=10.0.0.1&port=6543&dbname=a%20b&stage=AWSPREVIOUS&ttl=90s&endpoint=http://127.0.0.1:4566&tls=true",
			dsnConfig{secretID: "db", host: "10.0.0.1", port: 6543, dbname: "a b", hasDB: true, stage: "AWSPREVIOUS", ttl: 90 * time.Second, endpoint: "http://127.0.0.1:4566"}},
		{"db?host=[::1]", dsnConfig{secretID: "db", host: "::1"}},
		{"a.b+c=d@e_f-g", dsnConfig{secretID: "a.b+c=d@e_f-g"}},
		{"rds!db-0b9e5f3c-1d2e-4f5a-8b7c-6d5e4f3a2b1c", dsnConfig{secretID: "rds!db-0b9e5f3c-1d2e-4f5a-8b7c-6d5e4f3a2b1c"}},
		{"arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-0b9e5f3c-AbCdEf", dsnConfig{secretID: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-0b9e5f3c-AbCdEf"}},
	}
	for _, tt := range tests {
		got, err := parseDSN(tt.dsn)
		if err != nil {
			t.Errorf("parseDSN(%q): %v", tt.dsn, err)
			continue
		}
		got.params = nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseDSN(%q) = %+v, want %+v", tt.dsn, got, tt.want)
		}
	}
	d, err := parseDSN("db?sslmode=require&application_name=x&host=h")
	if err != nil || d.params.Get("sslmode") != "require" || d.params.Get("application_name") != "x" || d.params.Has("host") {
		t.Fatalf("passthrough params = %v, %v", d.params, err)
	}
}

func TestParseDSNErrors(t *testing.T) {
	for _, tt := range []struct{ dsn, key string }{
		{"", ""},
		{"?region=us-east-1", ""},
		{"name with space", ""},
		{"arn:aws:s3:::bucket", ""},
		{"arn:aws:secretsmanager:us-east-1:123456789012:parameter/x", ""},
		{"arn:aws:secretsmanager::123456789012:secret:x", ""},
		{"arn: :secretsmanager:us-east-1:123456789012:secret:x", ""},
		{"arn:aws:secretsmanager:us-east-1:12345678901x:secret:x", ""},
		{"db?region=US_EAST", "region"},
		{"db?region=", "region"},
		{"db?region=us-east-1&region=us-west-2", "region"},
		{"arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf?region=us-east-1", "region"},
		{"db?endpoint=ftp://x", "endpoint"},
		{"db?endpoint=localhost:4566", "endpoint"},
		{"db?port=0", "port"},
		{"db?port=70000", "port"},
		{"db?port=abc", "port"},
		{"db?host=a/b", "host"},
		{"db?ttl=10", "ttl"},
		{"db?ttl=-1m", "ttl"},
		{"db?ttl=500ms", "ttl"},
		{"db?stage=has%20space", "stage"},
		{"db?Region=us-east-1", "Region"},
		{"db?a=%zz", ""},
	} {
		_, err := parseDSN(tt.dsn)
		var de *DSNError
		if !errors.Is(err, ErrInvalidDSN) || !errors.As(err, &de) || de.Key != tt.key {
			t.Errorf("parseDSN(%q) = %v, want a DSNError for key %q", tt.dsn, err, tt.key)
		}
	}
}
