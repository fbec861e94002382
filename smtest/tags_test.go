package smtest_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretsql/secretsql/smtest"
)

func tagList(tags []types.Tag) string {
	var s []string
	for _, t := range tags {
		s = append(s, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return strings.Join(s, ",")
}

func TestTagsAndFilters(t *testing.T) {
	_, c := newServer(t)
	ctx := t.Context()
	ok(c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/app"), SecretString: aws.String("x"),
		Description: aws.String("Billing database"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("billing")}}}))(t)
	ok(c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("dev/app"), SecretString: aws.String("y")}))(t)

	ok(c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("prod/app"), Tags: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("prod")}, {Key: aws.String("team"), Value: aws.String("payments")}}}))(t)
	ok(c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("dev/app"), Tags: []types.Tag{
		{Key: aws.String("env"), Value: aws.String("dev")}, {Key: aws.String("owner"), Value: aws.String("ana")}}}))(t)
	if got := tagList(describe(t, c, "prod/app").Tags); got != "team=payments,env=prod" {
		t.Fatalf("tags %s", got)
	}
	ok(c.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: aws.String("dev/app"), TagKeys: []string{"owner", "absent"}}))(t)
	if got := tagList(describe(t, c, "dev/app").Tags); got != "env=dev" {
		t.Fatalf("tags after UntagResource %s", got)
	}

	list := func(filters ...types.Filter) []string {
		t.Helper()
		var names []string
		for _, s := range ok(c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: filters}))(t).SecretList {
			names = append(names, aws.ToString(s.Name))
			if aws.ToString(s.Name) == "prod/app" && tagList(s.Tags) != "team=payments,env=prod" {
				t.Errorf("ListSecrets tags %s", tagList(s.Tags))
			}
		}
		return names
	}
	f := func(key types.FilterNameStringType, values ...string) types.Filter {
		return types.Filter{Key: key, Values: values}
	}
	for _, tc := range []struct {
		filters []types.Filter
		want    []string
	}{
		{[]types.Filter{f("tag-key", "te")}, []string{"prod/app"}},
		{[]types.Filter{f("tag-key", "Team")}, nil}, // case-sensitive
		{[]types.Filter{f("tag-value", "pro", "de")}, []string{"prod/app", "dev/app"}},
		{[]types.Filter{f("tag-value", "!dev")}, []string{"prod/app"}},
		{[]types.Filter{f("tag-key", "env"), f("name", "dev")}, []string{"dev/app"}},
		{[]types.Filter{f("all", "PAYMENTS")}, []string{"prod/app"}},
		{[]types.Filter{f("all", "billing data")}, []string{"prod/app"}},
		{[]types.Filter{f("description", "billing")}, []string{"prod/app"}},
		{[]types.Filter{f("owning-service", "rds")}, nil},
		{[]types.Filter{f("primary-region", "us")}, nil},
	} {
		if got := list(tc.filters...); !slices.Equal(got, tc.want) {
			t.Errorf("filters %+v: %v, want %v", tc.filters, got, tc.want)
		}
	}

	for _, tc := range []struct {
		err  error
		code string
	}{
		{func() error {
			_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("dev/app"), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}})
			return err
		}(), "InvalidParameterException"},
		{func() error {
			_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("dev/app"), Tags: []types.Tag{{Key: aws.String(strings.Repeat("k", 129))}}})
			return err
		}(), "ValidationException"},
		{func() error {
			_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("missing"), Tags: []types.Tag{}})
			return err
		}(), "ResourceNotFoundException"},
		{func() error {
			_, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []types.Filter{f("name", "a;b")}})
			return err
		}(), "ValidationException"},
	} {
		wantCode(t, tc.err, tc.code)
	}
	var many []types.Tag
	for i := range 51 {
		many = append(many, types.Tag{Key: aws.String("k" + strings.Repeat("x", i)), Value: aws.String("v")})
	}
	_, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String("dev/app"), Tags: many})
	wantCode(t, err, "LimitExceededException")
}

func TestHostCheck(t *testing.T) {
	srv, c := newServer(t, smtest.WithHostCheck("emulator.internal"))
	srv.CreateSecret("db", "v1")
	if getString(t, c, "db") != "v1" {
		t.Fatal("a request to the listen address was refused")
	}
	for _, host := range []string{"localhost", "app.localhost", "127.0.0.2", "[::1]", "emulator.internal", "EMULATOR.internal."} {
		req := unsignedRequest(t, srv, "GetSecretValue", getBody)
		req.Host = host
		if r := do(t, req); r.Type != "MissingAuthenticationTokenException" {
			t.Errorf("Host %s: %d %s, want it let through to authentication", host, r.Status, r.Type)
		}
	}
	// A page of attacker.example whose name resolves to 127.0.0.1 (DNS
	// rebinding) is refused, signed or not.
	for _, host := range []string{"attacker.example", "attacker.example" + srv.URL[strings.LastIndex(srv.URL, ":"):], "localhost.attacker.example"} {
		req := signedRequest(t, srv, "GetSecretValue", getBody, signOpts{})
		req.Host = host
		wantRaw(t, do(t, req), http.StatusMisdirectedRequest, "HostNotAllowedException")
	}
	// Without WithHostCheck any Host is answered.
	open, _ := newServer(t)
	open.CreateSecret("db", "v1")
	req := signedRequest(t, open, "GetSecretValue", getBody, signOpts{})
	req.Host = "attacker.example"
	if r := do(t, req); r.Type == "HostNotAllowedException" {
		t.Fatal("NewServer checks Host by default")
	}
}

func TestTargetMustBeSigned(t *testing.T) {
	srv, _ := newServer(t)
	srv.CreateSecret("db", "v1")
	// Signed without X-Amz-Target, which is added afterwards: a replayed
	// signature cannot change the operation.
	req := signedRequest(t, srv, "", getBody, signOpts{})
	req.Header.Set("X-Amz-Target", "secretsmanager.DeleteSecret")
	r := do(t, req)
	wantRaw(t, r, http.StatusBadRequest, "InvalidSignatureException")
	if !strings.Contains(r.Message, "X-Amz-Target") {
		t.Fatalf("message %q", r.Message)
	}
	if srv.SecretVersions("db") == nil {
		t.Fatal("the secret was deleted")
	}
}
