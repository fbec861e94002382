package smtest_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

func TestGetRandomPassword(t *testing.T) {
	_, c := newServer(t)
	gen := func(in *secretsmanager.GetRandomPasswordInput) string {
		t.Helper()
		return aws.ToString(ok(c.GetRandomPassword(t.Context(), in))(t).RandomPassword)
	}
	classes := map[string]string{
		"lower": "abcdefghijklmnopqrstuvwxyz", "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"digit": "0123456789", "punct": punctuation,
	}
	has := func(p, class string) bool { return strings.ContainsAny(p, classes[class]) }

	// Defaults: 32 characters, every class present (RequireEachIncludedType
	// defaults to true), no space. Several draws, since any one password
	// could lack a class by chance if the requirement were not enforced.
	for range 50 {
		p := gen(&secretsmanager.GetRandomPasswordInput{})
		if len(p) != 32 || strings.Contains(p, " ") {
			t.Fatalf("default password %q", p)
		}
		for class := range classes {
			if !has(p, class) {
				t.Fatalf("default password %q lacks %s", p, class)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		in      secretsmanager.GetRandomPasswordInput
		check   func(string) bool
		wantLen int
	}{
		{"length 4, every class", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4)},
			func(p string) bool { return has(p, "lower") && has(p, "upper") && has(p, "digit") && has(p, "punct") }, 4},
		{"exclude characters", secretsmanager.GetRandomPasswordInput{ExcludeCharacters: aws.String(punctuation + "aeiouAEIOU0")},
			func(p string) bool { return !strings.ContainsAny(p, punctuation+"aeiouAEIOU0") }, 32},
		{"no numbers", secretsmanager.GetRandomPasswordInput{ExcludeNumbers: aws.Bool(true)}, func(p string) bool { return !has(p, "digit") }, 32},
		{"no punctuation", secretsmanager.GetRandomPasswordInput{ExcludePunctuation: aws.Bool(true)}, func(p string) bool { return !has(p, "punct") }, 32},
		{"no uppercase", secretsmanager.GetRandomPasswordInput{ExcludeUppercase: aws.Bool(true)}, func(p string) bool { return !has(p, "upper") }, 32},
		{"no lowercase", secretsmanager.GetRandomPasswordInput{ExcludeLowercase: aws.Bool(true)}, func(p string) bool { return !has(p, "lower") }, 32},
		{"digits only, long", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4096), ExcludeLowercase: aws.Bool(true),
			ExcludeUppercase: aws.Bool(true), ExcludePunctuation: aws.Bool(true)},
			func(p string) bool { return strings.Trim(p, classes["digit"]) == "" }, 4096},
		{"with space", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4096), IncludeSpace: aws.Bool(true)},
			func(p string) bool { return strings.Contains(p, " ") }, 4096},
		{"one character, no requirement", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(1), RequireEachIncludedType: aws.Bool(false)},
			func(string) bool { return true }, 1},
	} {
		p := gen(&tc.in)
		if len(p) != tc.wantLen || !tc.check(p) {
			t.Errorf("%s: %q", tc.name, p)
		}
	}
	for _, tc := range []struct {
		in   secretsmanager.GetRandomPasswordInput
		code string
	}{
		{secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(0)}, "ValidationException"},
		{secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4097)}, "ValidationException"},
		{secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(3)}, "InvalidParameterException"},
		{secretsmanager.GetRandomPasswordInput{ExcludeLowercase: aws.Bool(true), ExcludeUppercase: aws.Bool(true),
			ExcludeNumbers: aws.Bool(true), ExcludePunctuation: aws.Bool(true)}, "InvalidParameterException"},
	} {
		_, err := c.GetRandomPassword(t.Context(), &tc.in)
		wantCode(t, err, tc.code)
	}
}
