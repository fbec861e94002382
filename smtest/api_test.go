package smtest_test

import (
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretsql/secretsql/smtest"
)

const weirdName = "team/app_db+primary=1.x@corp-prod"

func TestCreateAndGetByNameFullAndPartialARN(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()

	out := ok(c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(weirdName),
		SecretString: aws.String("v1"),
		Description:  aws.String("the db"),
	}))(t)
	re := regexp.MustCompile(`^arn:aws:secretsmanager:us-east-1:123456789012:secret:` + regexp.QuoteMeta(weirdName) + `-[A-Za-z0-9]{6}$`)
	if !re.MatchString(aws.ToString(out.ARN)) {
		t.Fatalf("ARN %q does not match %s", aws.ToString(out.ARN), re)
	}
	if aws.ToString(out.Name) != weirdName || len(aws.ToString(out.VersionId)) != 36 {
		t.Fatalf("unexpected output %+v", out)
	}
	arn := aws.ToString(out.ARN)
	partial := strings.TrimSuffix(arn, arn[len(arn)-7:])

	for _, id := range []string{weirdName, arn, partial} {
		got := get(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if aws.ToString(got.SecretString) != "v1" || aws.ToString(got.ARN) != arn || aws.ToString(got.Name) != weirdName ||
			aws.ToString(got.VersionId) != aws.ToString(out.VersionId) || !slices.Equal(got.VersionStages, []string{"AWSCURRENT"}) ||
			got.SecretBinary != nil {
			t.Fatalf("get %q: unexpected output %+v", id, got)
		}
		if got.CreatedDate == nil || time.Since(*got.CreatedDate) > time.Minute || time.Since(*got.CreatedDate) < -time.Second {
			t.Fatalf("get %q: CreatedDate %v", id, got.CreatedDate)
		}
	}
	if n := srv.SecretCalls("GetSecretValue", partial); n != 3 {
		t.Fatalf("SecretCalls(partial ARN) = %d, want 3", n)
	}

	// ARNs that do not name the secret.
	last := "Q"
	if strings.HasSuffix(arn, last) {
		last = "R"
	}
	for _, id := range []string{
		arn[:len(arn)-1] + last,                            // wrong suffix
		strings.Replace(arn, "us-east-1", "eu-west-1", 1),  // wrong region
		strings.Replace(partial, "123456789012", "999", 1), // wrong account
		"team/app_db",
	} {
		_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		wantErr[*types.ResourceNotFoundException](t, err)
	}
}

func TestCreateSecretErrors(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	srv.CreateSecret("db", "x")

	_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("y")})
	wantErr[*types.ResourceExistsException](t, err)

	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("both"), SecretString: aws.String("y"), SecretBinary: []byte{1},
	})
	wantErr[*types.InvalidParameterException](t, err)

	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("bad name!"), SecretString: aws.String("y")})
	wantErr[*types.InvalidParameterException](t, err)

	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("short-token"), SecretString: aws.String("y"), ClientRequestToken: aws.String("too-short"),
	})
	wantCode(t, err, "ValidationException")

	// A name scheduled for deletion cannot be reused (AWS: InvalidRequestException).
	ok(c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db")}))(t)
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("y")})
	wantErr[*types.InvalidRequestException](t, err)
}

func TestCreateSecretVariants(t *testing.T) {
	_, c := newServer(t)
	ctx := t.Context()

	token := "11111111-2222-4333-8444-555555555555"
	out := ok(c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("bin"), SecretBinary: []byte{0, 1, 2, 0xff}, ClientRequestToken: aws.String(token),
	}))(t)
	if aws.ToString(out.VersionId) != token {
		t.Fatalf("VersionId = %q, want the ClientRequestToken", aws.ToString(out.VersionId))
	}
	got := get(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	if !bytes.Equal(got.SecretBinary, []byte{0, 1, 2, 0xff}) || got.SecretString != nil {
		t.Fatalf("binary round trip: %+v", got)
	}

	// No value: a secret without versions.
	out = ok(c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("empty")}))(t)
	if out.VersionId != nil {
		t.Fatalf("VersionId = %q for a secret without value", *out.VersionId)
	}
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
	wantErr[*types.ResourceNotFoundException](t, err)
	// The first version gets AWSCURRENT even when asked for AWSPENDING only.
	put := ok(c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("empty"), SecretString: aws.String("first"), VersionStages: []string{"AWSPENDING"},
	}))(t)
	if !slices.Equal(put.VersionStages, []string{"AWSCURRENT", "AWSPENDING"}) {
		t.Fatalf("first version stages = %v", put.VersionStages)
	}
}

func TestGetSecretValueVersionSelection(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	srv.CreateSecret("db", "v1")
	v1 := srv.PutSecretString("db", "v1b", "custom") // only label: custom
	v2 := srv.PutSecretString("db", "v2")
	v3 := srv.PutSecretString("db", "v3")

	cases := []struct {
		versionID, stage string
		want             string
	}{
		{"", "", "v3"},
		{"", "AWSCURRENT", "v3"},
		{"", "AWSPREVIOUS", "v2"},
		{"", "custom", "v1b"},
		{v2, "", "v2"},
		{v1, "custom", "v1b"},
		{v3, "AWSCURRENT", "v3"},
	}
	for _, tc := range cases {
		in := &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")}
		if tc.versionID != "" {
			in.VersionId = aws.String(tc.versionID)
		}
		if tc.stage != "" {
			in.VersionStage = aws.String(tc.stage)
		}
		if got := aws.ToString(get(t, c, in).SecretString); got != tc.want {
			t.Errorf("Get(%q, %q) = %q, want %q", tc.versionID, tc.stage, got, tc.want)
		}
	}

	// The original version lost every label but stays readable by ID.
	first := ""
	for _, v := range ok(c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{
		SecretId: aws.String("db"), IncludeDeprecated: aws.Bool(true),
	}))(t).Versions {
		if len(v.VersionStages) == 0 {
			first = aws.ToString(v.VersionId)
		}
	}
	if first == "" {
		t.Fatal("no deprecated version listed")
	}
	if got := get(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db"), VersionId: aws.String(first)}); aws.ToString(got.SecretString) != "v1" || len(got.VersionStages) != 0 {
		t.Fatalf("deprecated version: %+v", got)
	}

	for _, in := range []*secretsmanager.GetSecretValueInput{
		{SecretId: aws.String("db"), VersionStage: aws.String("AWSPENDING")},
		{SecretId: aws.String("db"), VersionId: aws.String("00000000-0000-4000-8000-000000000000")},
		{SecretId: aws.String("db"), VersionId: aws.String(v2), VersionStage: aws.String("AWSCURRENT")},
		{SecretId: aws.String("nope")},
	} {
		_, err := c.GetSecretValue(ctx, in)
		wantErr[*types.ResourceNotFoundException](t, err)
	}
}

func TestDescribeSecret(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	arn := srv.CreateSecret("db", "v1")
	v2 := srv.PutSecretString("db", "v2")

	d := ok(c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)}))(t)
	if aws.ToString(d.ARN) != arn || aws.ToString(d.Name) != "db" {
		t.Fatalf("ARN/Name: %+v", d)
	}
	// "If the secret has never been configured for rotation, Secrets
	// Manager returns null."
	if d.RotationEnabled != nil {
		t.Fatalf("RotationEnabled = %v, want none", *d.RotationEnabled)
	}
	if d.CreatedDate == nil || d.CreatedDate.Before(before) || d.LastChangedDate == nil || d.LastChangedDate.Before(*d.CreatedDate) {
		t.Fatalf("dates: created %v changed %v", d.CreatedDate, d.LastChangedDate)
	}
	if d.LastAccessedDate != nil || d.DeletedDate != nil {
		t.Fatalf("LastAccessedDate %v / DeletedDate %v before any read/delete", d.LastAccessedDate, d.DeletedDate)
	}
	if !maps.EqualFunc(d.VersionIdsToStages, srv.SecretVersions("db"), slices.Equal) || !slices.Equal(d.VersionIdsToStages[v2], []string{"AWSCURRENT"}) {
		t.Fatalf("VersionIdsToStages = %v", d.VersionIdsToStages)
	}

	getString(t, c, "db")
	ok(c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db"), RecoveryWindowInDays: aws.Int64(7)}))(t)
	d = ok(c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")}))(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if d.LastAccessedDate == nil || !d.LastAccessedDate.Equal(today) {
		t.Fatalf("LastAccessedDate = %v, want %v", d.LastAccessedDate, today)
	}
	if d.DeletedDate == nil || time.Since(*d.DeletedDate) > time.Minute {
		t.Fatalf("DeletedDate = %v", d.DeletedDate)
	}

	_, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("nope")})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestPutSecretValue(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	srv.CreateSecret("db", "v1")
	v1 := firstVersion(t, srv, "db", "AWSCURRENT")

	token := "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	out := ok(c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("db"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token),
	}))(t)
	if aws.ToString(out.VersionId) != token || !slices.Equal(out.VersionStages, []string{"AWSCURRENT"}) || aws.ToString(out.Name) != "db" {
		t.Fatalf("put: %+v", out)
	}
	wantVersions(t, srv, "db", map[string][]string{token: {"AWSCURRENT"}, v1: {"AWSPREVIOUS"}})

	// Same token, same value: idempotent, nothing changes.
	again := ok(c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("db"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token),
	}))(t)
	if aws.ToString(again.VersionId) != token {
		t.Fatalf("idempotent put returned %q", aws.ToString(again.VersionId))
	}
	wantVersions(t, srv, "db", map[string][]string{token: {"AWSCURRENT"}, v1: {"AWSPREVIOUS"}})

	// Same token, different value.
	_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("db"), SecretString: aws.String("other"), ClientRequestToken: aws.String(token),
	})
	wantErr[*types.ResourceExistsException](t, err)

	// A custom label moves between versions; AWSCURRENT stays.
	a := ok(c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("db"), SecretString: aws.String("a"), VersionStages: []string{"blue"},
	}))(t)
	b := ok(c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("db"), SecretString: aws.String("b"), VersionStages: []string{"blue", "green"},
	}))(t)
	wantVersions(t, srv, "db", map[string][]string{
		token:                     {"AWSCURRENT"},
		v1:                        {"AWSPREVIOUS"},
		aws.ToString(b.VersionId): {"blue", "green"},
	})
	_ = a

	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("db"), SecretString: aws.String("a"), SecretBinary: []byte("b"),
	})
	wantErr[*types.InvalidParameterException](t, err)
	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("db")})
	wantErr[*types.InvalidRequestException](t, err)
	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("nope"), SecretString: aws.String("x")})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestUpdateSecret(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	srv.CreateSecret("db", "v1")
	out := ok(c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{
		SecretId: aws.String("db"), SecretString: aws.String("v2"), Description: aws.String("new"),
	}))(t)
	if getString(t, c, "db") != "v2" {
		t.Fatal("UpdateSecret did not make a new AWSCURRENT version")
	}
	d := ok(c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")}))(t)
	if aws.ToString(d.Description) != "new" || !slices.Equal(d.VersionIdsToStages[aws.ToString(out.VersionId)], []string{"AWSCURRENT"}) {
		t.Fatalf("after UpdateSecret: %+v", d)
	}
	// Description only: no new version.
	out = ok(c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("db"), Description: aws.String("n2")}))(t)
	if out.VersionId != nil || len(srv.SecretVersions("db")) != 2 {
		t.Fatalf("description-only update created a version: %+v", out)
	}
}

// TestRotationStagingLabels walks the four steps of a rotation function
// (createSecret, setSecret, testSecret, finishSecret) twice.
func TestRotationStagingLabels(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	arn := srv.CreateSecret("db", `{"password":"one"}`)
	v1 := firstVersion(t, srv, "db", "AWSCURRENT")

	rotate := func(oldCurrent, newPassword string) string {
		t.Helper()
		// createSecret: the rotation function puts the new value as AWSPENDING,
		// with the rotation token as ClientRequestToken.
		token := newToken(t)
		put := ok(c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId:           aws.String(arn),
			ClientRequestToken: aws.String(token),
			SecretString:       aws.String(newPassword),
			VersionStages:      []string{"AWSPENDING"},
		}))(t)
		if !slices.Equal(put.VersionStages, []string{"AWSPENDING"}) {
			t.Fatalf("pending version stages = %v", put.VersionStages)
		}
		// Between createSecret and finishSecret readers still get the old value,
		// and AWSPENDING gives the new one (setSecret and testSecret use it).
		if got := getString(t, c, "db"); got == newPassword {
			t.Fatalf("AWSCURRENT already returns the pending value")
		}
		pending := get(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSPENDING")})
		if aws.ToString(pending.SecretString) != newPassword || aws.ToString(pending.VersionId) != token {
			t.Fatalf("AWSPENDING read: %+v", pending)
		}
		// finishSecret: move AWSCURRENT to the new version.
		ok(c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId:            aws.String(arn),
			VersionStage:        aws.String("AWSCURRENT"),
			MoveToVersionId:     aws.String(token),
			RemoveFromVersionId: aws.String(oldCurrent),
		}))(t)
		// AWSPREVIOUS followed automatically; AWSPENDING stays on the new
		// version, next to AWSCURRENT (RotateSecret API reference).
		wantVersions(t, srv, "db", map[string][]string{
			token:      {"AWSCURRENT", "AWSPENDING"},
			oldCurrent: {"AWSPREVIOUS"},
		})
		if got := getString(t, c, "db"); got != newPassword {
			t.Fatalf("after finishSecret AWSCURRENT = %q", got)
		}
		prev := get(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db"), VersionStage: aws.String("AWSPREVIOUS")})
		if aws.ToString(prev.VersionId) != oldCurrent {
			t.Fatalf("AWSPREVIOUS is %q, want %q", aws.ToString(prev.VersionId), oldCurrent)
		}
		return token
	}

	v2 := rotate(v1, `{"password":"two"}`)

	// A rotation function that tidies up removes AWSPENDING itself.
	ok(c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("db"), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(v2),
	}))(t)
	wantVersions(t, srv, "db", map[string][]string{v2: {"AWSCURRENT"}, v1: {"AWSPREVIOUS"}})

	// Second rotation: putting AWSPENDING again, then finishing, deprecates v1.
	v3 := rotate(v2, `{"password":"three"}`)
	versions := ok(c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{
		SecretId: aws.String("db"), IncludeDeprecated: aws.Bool(true),
	}))(t).Versions
	if len(versions) != 3 {
		t.Fatalf("got %d versions, want 3", len(versions))
	}
	for _, v := range versions {
		if aws.ToString(v.VersionId) == v1 && len(v.VersionStages) != 0 {
			t.Fatalf("v1 still has labels %v", v.VersionStages)
		}
	}
	_ = v3
}

func TestUpdateSecretVersionStageErrors(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	srv.CreateSecret("db", "v1")
	v1 := firstVersion(t, srv, "db", "AWSCURRENT")
	v2 := srv.PutSecretString("db", "v2", "AWSPENDING")
	update := func(stage, move, remove string) error {
		in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("db"), VersionStage: aws.String(stage)}
		if move != "" {
			in.MoveToVersionId = aws.String(move)
		}
		if remove != "" {
			in.RemoveFromVersionId = aws.String(remove)
		}
		_, err := c.UpdateSecretVersionStage(ctx, in)
		return err
	}

	// AWSCURRENT is on v1: moving it needs RemoveFromVersionId = v1.
	wantErr[*types.InvalidParameterException](t, update("AWSCURRENT", v2, ""))
	wantErr[*types.InvalidParameterException](t, update("AWSCURRENT", v2, v2))
	// AWSCURRENT cannot be removed outright.
	wantErr[*types.InvalidParameterException](t, update("AWSCURRENT", "", v1))
	// Removing a label from a version that does not carry it.
	wantErr[*types.InvalidParameterException](t, update("AWSPENDING", "", v1))
	// Neither MoveToVersionId nor RemoveFromVersionId.
	wantErr[*types.InvalidParameterException](t, update("AWSPENDING", "", ""))
	// Unknown version.
	wantErr[*types.ResourceNotFoundException](t, update("AWSPENDING", "00000000-0000-4000-8000-000000000000", ""))
	wantVersions(t, srv, "db", map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPENDING"}})

	// A label not attached anywhere can be attached without RemoveFromVersionId;
	// moving a label to where it already is does nothing.
	if err := update("blue", v1, ""); err != nil {
		t.Fatal(err)
	}
	if err := update("AWSCURRENT", v1, ""); err != nil {
		t.Fatal(err)
	}
	// Moving a custom label with RemoveFromVersionId.
	if err := update("blue", v2, v1); err != nil {
		t.Fatal(err)
	}
	wantVersions(t, srv, "db", map[string][]string{v1: {"AWSCURRENT"}, v2: {"AWSPENDING", "blue"}})
	// Moving AWSCURRENT to the pending version.
	if err := update("AWSCURRENT", v2, v1); err != nil {
		t.Fatal(err)
	}
	wantVersions(t, srv, "db", map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT", "AWSPENDING", "blue"}})
}

func TestListSecretVersionIds(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	arn := srv.CreateSecret("db", "v1")
	for i := range 4 {
		srv.PutSecretString("db", "v"+string(rune('2'+i)))
	}
	out := ok(c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("db")}))(t)
	if aws.ToString(out.ARN) != arn || len(out.Versions) != 2 {
		t.Fatalf("without deprecated: %d versions (%+v)", len(out.Versions), out)
	}
	for _, v := range out.Versions {
		if v.CreatedDate == nil || len(v.VersionStages) != 1 {
			t.Fatalf("version entry %+v", v)
		}
	}
	// Paging through all five versions one at a time.
	var ids []string
	var next *string
	for {
		page := ok(c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{
			SecretId: aws.String("db"), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(2), NextToken: next,
		}))(t)
		for _, v := range page.Versions {
			ids = append(ids, aws.ToString(v.VersionId))
		}
		if next = page.NextToken; next == nil {
			break
		}
	}
	if len(ids) != 5 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 5 {
		t.Fatalf("paged version IDs: %v", ids)
	}
	_, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("db"), NextToken: aws.String("garbage")})
	wantCode(t, err, "InvalidNextTokenException")
}

func TestListSecrets(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	for _, n := range []string{"prod/db", "prod/cache", "dev/db", "Prod/other"} {
		srv.CreateSecret(n, "x")
	}
	ok(c.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("dev/db"), Description: aws.String("Developer database")}))(t)
	ok(c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("prod/cache")}))(t)

	names := func(in *secretsmanager.ListSecretsInput) []string {
		t.Helper()
		var out []string
		for {
			page := ok(c.ListSecrets(ctx, in))(t)
			for _, e := range page.SecretList {
				out = append(out, aws.ToString(e.Name))
			}
			if page.NextToken == nil {
				return out
			}
			in.NextToken = page.NextToken
		}
	}
	filter := func(key types.FilterNameStringType, values ...string) []types.Filter {
		return []types.Filter{{Key: key, Values: values}}
	}
	cases := []struct {
		name string
		in   *secretsmanager.ListSecretsInput
		want []string
	}{
		{"all", &secretsmanager.ListSecretsInput{}, []string{"prod/db", "dev/db", "Prod/other"}},
		{"paged", &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1)}, []string{"prod/db", "dev/db", "Prod/other"}},
		{"planned deletion", &secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)}, []string{"prod/db", "prod/cache", "dev/db", "Prod/other"}},
		{"name prefix is case-sensitive", &secretsmanager.ListSecretsInput{Filters: filter(types.FilterNameStringTypeName, "prod/")}, []string{"prod/db"}},
		{"negated name", &secretsmanager.ListSecretsInput{Filters: filter(types.FilterNameStringTypeName, "!prod/")}, []string{"dev/db", "Prod/other"}},
		{"description ignores case", &secretsmanager.ListSecretsInput{Filters: filter(types.FilterNameStringTypeDescription, "developer")}, []string{"dev/db"}},
		{"all words", &secretsmanager.ListSecretsInput{Filters: filter(types.FilterNameStringTypeAll, "DB")}, []string{"prod/db", "dev/db"}},
		{"tags never match", &secretsmanager.ListSecretsInput{Filters: filter(types.FilterNameStringTypeTagKey, "env")}, nil},
		{"desc", &secretsmanager.ListSecretsInput{SortOrder: types.SortOrderTypeDesc}, []string{"Prod/other", "dev/db", "prod/db"}},
	}
	for _, tc := range cases {
		if got := names(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	list := ok(c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}))(t).SecretList
	if len(list[0].SecretVersionsToStages) != 1 || list[0].CreatedDate == nil || aws.ToString(list[0].ARN) == "" {
		t.Fatalf("list entry: %+v", list[0])
	}
}

func TestDeleteAndRestore(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	arn := srv.CreateSecret("db", "v1")

	_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db"), RecoveryWindowInDays: aws.Int64(6)})
	wantErr[*types.InvalidParameterException](t, err)
	_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db"), RecoveryWindowInDays: aws.Int64(31)})
	wantErr[*types.InvalidParameterException](t, err)
	_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{
		SecretId: aws.String("db"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true),
	})
	wantErr[*types.InvalidParameterException](t, err)

	del := ok(c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(arn)}))(t)
	if aws.ToString(del.ARN) != arn || aws.ToString(del.Name) != "db" || del.DeletionDate == nil {
		t.Fatalf("delete output %+v", del)
	}
	if d := time.Until(*del.DeletionDate); d < 30*24*time.Hour-time.Minute || d > 30*24*time.Hour {
		t.Fatalf("DeletionDate is %v away, want 30 days", d)
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})
	wantErr[*types.InvalidRequestException](t, err)
	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("db"), SecretString: aws.String("x")})
	wantErr[*types.InvalidRequestException](t, err)
	_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db")})
	wantErr[*types.InvalidRequestException](t, err)

	res := ok(c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("db")}))(t)
	if aws.ToString(res.ARN) != arn {
		t.Fatalf("restore output %+v", res)
	}
	if getString(t, c, "db") != "v1" {
		t.Fatal("restored secret unreadable")
	}
	d := ok(c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")}))(t)
	if d.DeletedDate != nil {
		t.Fatalf("DeletedDate %v after restore", d.DeletedDate)
	}

	// Schedule, then force-delete the scheduled secret: gone at once.
	ok(c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db"), RecoveryWindowInDays: aws.Int64(7)}))(t)
	ok(c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db"), ForceDeleteWithoutRecovery: aws.Bool(true)}))(t)
	_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("db")})
	wantErr[*types.ResourceNotFoundException](t, err)
	// The name is free again, with a new ARN.
	out := ok(c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("v2")}))(t)
	if aws.ToString(out.ARN) == arn {
		t.Fatal("recreated secret reused the old ARN")
	}
	_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestBatchGetSecretValue(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	arnA := srv.CreateSecret("app/a", "A")
	srv.CreateBinarySecret("app/b", []byte{9, 8})
	srv.CreateSecret("app/denied", "D")
	srv.CreateSecret("app/deleted", "X")
	srv.Deny("app/denied")
	ok(c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("app/deleted")}))(t)

	out := ok(c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{
		SecretIdList: []string{arnA, "app/b", "missing", "app/denied", "app/deleted"},
	}))(t)
	if len(out.SecretValues) != 2 {
		t.Fatalf("got %d values, want 2: %+v", len(out.SecretValues), out.SecretValues)
	}
	a, b := out.SecretValues[0], out.SecretValues[1]
	if aws.ToString(a.SecretString) != "A" || aws.ToString(a.ARN) != arnA || !slices.Equal(a.VersionStages, []string{"AWSCURRENT"}) ||
		a.CreatedDate == nil || aws.ToString(a.VersionId) == "" {
		t.Fatalf("value a: %+v", a)
	}
	if !bytes.Equal(b.SecretBinary, []byte{9, 8}) || aws.ToString(b.Name) != "app/b" {
		t.Fatalf("value b: %+v", b)
	}
	gotErrs := map[string]string{}
	for _, e := range out.Errors {
		gotErrs[aws.ToString(e.SecretId)] = aws.ToString(e.ErrorCode)
		if aws.ToString(e.Message) == "" {
			t.Errorf("error for %s has no message", aws.ToString(e.SecretId))
		}
	}
	wantErrs := map[string]string{
		"missing":     "ResourceNotFoundException",
		"app/denied":  "AccessDeniedException",
		"app/deleted": "InvalidRequestException",
	}
	if !maps.Equal(gotErrs, wantErrs) {
		t.Fatalf("errors = %v, want %v", gotErrs, wantErrs)
	}

	// Filters select secrets by name; denied ones are reported as errors.
	out = ok(c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{
		Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"app/"}}},
	}))(t)
	if len(out.SecretValues) != 2 || len(out.Errors) != 1 {
		t.Fatalf("filtered batch: %d values, %d errors", len(out.SecretValues), len(out.Errors))
	}

	_, err := c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{
		SecretIdList: []string{"app/a"},
		Filters:      []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"app/"}}},
	})
	wantErr[*types.InvalidParameterException](t, err)
	_, err = c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{})
	wantErr[*types.InvalidParameterException](t, err)
	_, err = c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"app/a"}, MaxResults: aws.Int32(5)})
	wantErr[*types.InvalidParameterException](t, err)
	tooMany := make([]string, 21)
	for i := range tooMany {
		tooMany[i] = "app/a"
	}
	_, err = c.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: tooMany})
	wantCode(t, err, "ValidationException")

	// Every request whose SecretIdList names app/a counts, failed ones too;
	// the Filters request does not name it.
	if n := srv.SecretCalls("BatchGetSecretValue", arnA); n != 4 {
		t.Fatalf("SecretCalls(BatchGetSecretValue, a) = %d, want 4", n)
	}
}

func TestDenyAndAllow(t *testing.T) {
	srv, c := newServer(t, smtest.WithDenied("pre-denied"))
	ctx := t.Context()
	arn := srv.CreateSecret("db", "v1")
	srv.CreateSecret("other", "o")
	srv.CreateSecret("pre-denied", "p")

	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("pre-denied")})
	wantCode(t, err, "AccessDeniedException")

	// Denying by ARN covers the name and the partial ARN, for every operation.
	srv.Deny(arn)
	partial := arn[:len(arn)-7]
	for _, id := range []string{"db", arn, partial} {
		_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		wantCode(t, err, "AccessDeniedException")
		if s := httpStatus(t, err); s != 400 {
			t.Fatalf("AccessDeniedException status %d", s)
		}
	}
	_, err = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})
	wantCode(t, err, "AccessDeniedException")
	_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("db"), SecretString: aws.String("x")})
	wantCode(t, err, "AccessDeniedException")
	_, err = c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("db")})
	wantCode(t, err, "AccessDeniedException")
	if getString(t, c, "other") != "o" {
		t.Fatal("other secret affected")
	}

	// A denied secret that does not exist yet cannot be created.
	srv.Deny("future")
	_, err = c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("future"), SecretString: aws.String("f")})
	wantCode(t, err, "AccessDeniedException")

	srv.Allow(arn)
	if getString(t, c, partial) != "v1" {
		t.Fatal("allowed secret unreadable")
	}
	srv.Allow()
	if getString(t, c, "pre-denied") != "p" {
		t.Fatal("Allow() did not lift every denial")
	}
}

func TestSeedingHelpers(t *testing.T) {
	srv, c := newServer(t)
	arn := srv.CreateSecret("db", "v1")
	v1 := firstVersion(t, srv, "db", "AWSCURRENT")
	v2 := srv.PutSecretString(arn, "v2")
	v3 := srv.PutSecretString("db", "v3", "AWSPENDING", "extra")
	wantVersions(t, srv, arn[:len(arn)-7], map[string][]string{
		v2: {"AWSCURRENT"}, v1: {"AWSPREVIOUS"}, v3: {"AWSPENDING", "extra"},
	})
	if srv.Calls("") != 0 {
		t.Fatalf("helpers counted as calls: %d", srv.Calls(""))
	}
	if srv.SecretVersions("nope") != nil {
		t.Fatal("SecretVersions of a missing secret is not nil")
	}
	if getString(t, c, "db") != "v2" {
		t.Fatal("PutSecretString did not move AWSCURRENT")
	}
	mustPanic(t, func() { srv.CreateSecret("db", "again") })
	mustPanic(t, func() { srv.PutSecretString("nope", "x") })
	mustPanic(t, func() { srv.CreateSecret("bad name", "x") })
}

func mustPanic(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatal("did not panic")
		}
	}()
	f()
}

// firstVersion returns the version of secret id that carries stage.
func firstVersion(t *testing.T, srv *smtest.Server, id, stage string) string {
	t.Helper()
	for vid, stages := range srv.SecretVersions(id) {
		if slices.Contains(stages, stage) {
			return vid
		}
	}
	t.Fatalf("no version of %s has %s", id, stage)
	return ""
}

func wantVersions(t *testing.T, srv *smtest.Server, id string, want map[string][]string) {
	t.Helper()
	if got := srv.SecretVersions(id); !maps.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("VersionIdsToStages = %v, want %v", got, want)
	}
}

var tokenSeq atomic.Int64

// newToken returns a fresh ClientRequestToken (AWS wants 32 to 64 characters).
func newToken(t *testing.T) string {
	t.Helper()
	n := tokenSeq.Add(1)
	return fmt.Sprintf("%08d-0000-4000-8000-%012d", n, n)
}
