package smtest_test

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/secretsql/secretsql/smtest"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// allVersions pages through ListSecretVersionIds with IncludeDeprecated and
// returns the versions, oldest first, and the number of pages.
func allVersions(t *testing.T, c *secretsmanager.Client, id string) ([]types.SecretVersionsListEntry, int) {
	t.Helper()
	var all []types.SecretVersionsListEntry
	pages := 0
	var next *string
	for {
		page := ok(c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{
			SecretId: aws.String(id), IncludeDeprecated: aws.Bool(true), NextToken: next,
		}))(t)
		pages++
		all = append(all, page.Versions...)
		if next = page.NextToken; next == nil {
			return all, pages
		}
	}
}

// TestVersionsPruned puts 1,000 versions of 64 KiB (the last 50 through
// PutSecretValue, the others through PutSecretString, which is faster): as
// Secrets Manager does, the server keeps about 100 versions, removing the
// oldest versions without a staging label beyond that, and never a
// labelled one.
func TestVersionsPruned(t *testing.T) {
	srv, c := newServer(t)
	ctx := t.Context()
	srv.CreateSecret("big", "first")
	kept := srv.PutSecretString("big", "labelled", "KEEP", "AWSCURRENT")
	before := heapInUse()

	value := strings.Repeat("x", 64<<10-8)
	var ids []string
	for i := range 1000 {
		v := value + strings.Repeat("y", i%8)
		if i < 950 {
			ids = append(ids, srv.PutSecretString("big", v))
			continue
		}
		out := ok(c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("big"), SecretString: aws.String(v)}))(t)
		ids = append(ids, aws.ToString(out.VersionId))
	}
	after := heapInUse()
	grown := int64(after) - int64(before)
	t.Logf("heap: %d bytes before, %d after 1,000 puts of 64 KiB (%+d)", before, after, grown)
	if grown > 16<<20 {
		t.Errorf("the heap grew by %d bytes for 1,000 versions of 64 KiB; want the versions beyond ~100 gone (100 × 64 KiB = 6.4 MiB)", grown)
	}

	versions, pages := allVersions(t, c, "big")
	t.Logf("ListSecretVersionIds with IncludeDeprecated: %d versions in %d page(s)", len(versions), pages)
	if len(versions) != smtest.MaxVersions || pages != 1 {
		t.Fatalf("%d versions in %d pages, want %d in 1", len(versions), pages, smtest.MaxVersions)
	}
	got := make([]string, len(versions))
	for i, v := range versions {
		got[i] = aws.ToString(v.VersionId)
	}
	// The labelled version stays; the deprecated ones kept are the newest.
	want := append([]string{kept}, ids[len(ids)-smtest.MaxVersions+1:]...)
	if !slices.Equal(got, want) {
		t.Fatalf("kept versions (oldest first):\n%v\nwant the KEEP version and the newest %d:\n%v", got, smtest.MaxVersions-1, want)
	}
	if stages := versions[0].VersionStages; !slices.Equal(stages, []string{"KEEP"}) {
		t.Fatalf("stages of the labelled version %v", stages)
	}
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("big"), VersionId: aws.String(ids[0])})
	wantErr[*types.ResourceNotFoundException](t, err)
	cur := get(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("big")})
	if aws.ToString(cur.VersionId) != ids[len(ids)-1] {
		t.Fatalf("AWSCURRENT is %s, want the last put %s", aws.ToString(cur.VersionId), ids[len(ids)-1])
	}
}
