package smtest_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/secretsql/secretsql/smtest"
)

func replicaIn(regions ...string) []types.ReplicaRegionType {
	var out []types.ReplicaRegionType
	for _, r := range regions {
		out = append(out, types.ReplicaRegionType{Region: aws.String(r)})
	}
	return out
}

// inRegion is arn with its region replaced.
func inRegion(arn, region string) string {
	parts := strings.SplitN(arn, ":", 5)
	parts[3] = region
	return strings.Join(parts, ":")
}

func statuses(rs []types.ReplicationStatusType) string {
	var out []string
	for _, r := range rs {
		out = append(out, aws.ToString(r.Region)+" "+string(r.Status)+" "+aws.ToString(r.StatusMessage)+" "+aws.ToString(r.KmsKeyId))
	}
	return strings.Join(out, "; ")
}

const replicaRefused = "Operation not permitted on a replica secret. Call must be made in primary secret's region."

func TestReplicas(t *testing.T) {
	srv, east := newServer(t, smtest.WithRegions("us-west-2", "eu-west-1"))
	west, eu := srv.ClientFor("us-west-2"), srv.ClientFor("eu-west-1")
	ctx := t.Context()
	if got := srv.Regions(); !slices.Equal(got, []string{"us-east-1", "us-west-2", "eu-west-1"}) {
		t.Fatalf("Regions() = %v", got)
	}

	created := ok(east.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("app/db"), SecretString: aws.String("v1"), AddReplicaRegions: replicaIn("us-west-2"),
	}))(t)
	if got := statuses(created.ReplicationStatus); got != "us-west-2 InSync Replication succeeded alias/aws/secretsmanager" {
		t.Fatalf("CreateSecret ReplicationStatus: %s", got)
	}
	primaryARN := aws.ToString(created.ARN)
	replicaARN := inRegion(primaryARN, "us-west-2")

	// The replica is read in its region, by name or by its ARN.
	for _, id := range []string{"app/db", replicaARN, strings.TrimSuffix(replicaARN, replicaARN[len(replicaARN)-7:])} {
		out := get(t, west, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if aws.ToString(out.SecretString) != "v1" || aws.ToString(out.ARN) != replicaARN || aws.ToString(out.VersionId) != aws.ToString(created.VersionId) {
			t.Fatalf("replica read by %s: %+v", id, out)
		}
	}
	// Not in a region it is not replicated to, nor by the primary's ARN.
	_, err := eu.GetSecretValue(ctx, getIn("app/db"))
	wantCode(t, err, "ResourceNotFoundException")
	_, err = west.GetSecretValue(ctx, getIn(primaryARN))
	wantCode(t, err, "ResourceNotFoundException")

	// Values and labels follow the primary.
	v2 := ok(east.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("v2")}))(t)
	if s := getString(t, west, "app/db"); s != "v2" {
		t.Fatalf("replica after put: %q", s)
	}
	srv.PutSecretString("app/db", "v3", "AWSPENDING")
	if s := aws.ToString(get(t, west, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSPENDING")}).SecretString); s != "v3" {
		t.Fatalf("replica AWSPENDING: %q", s)
	}
	versions := ok(west.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("app/db")}))(t)
	if len(versions.Versions) != 3 || aws.ToString(versions.ARN) != replicaARN {
		t.Fatalf("replica versions: %+v", versions)
	}

	// DescribeSecret: PrimaryRegion on both sides, ReplicationStatus on the
	// primary (with the replica's last access).
	d := ok(west.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/db")}))(t)
	if aws.ToString(d.ARN) != replicaARN || aws.ToString(d.PrimaryRegion) != "us-east-1" || d.ReplicationStatus != nil ||
		!slices.Equal(d.VersionIdsToStages[aws.ToString(v2.VersionId)], []string{"AWSCURRENT"}) || d.LastAccessedDate == nil {
		t.Fatalf("describe replica: %+v", d)
	}
	d = ok(east.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/db")}))(t)
	if aws.ToString(d.ARN) != primaryARN || aws.ToString(d.PrimaryRegion) != "us-east-1" ||
		statuses(d.ReplicationStatus) != "us-west-2 InSync Replication succeeded alias/aws/secretsmanager" ||
		d.ReplicationStatus[0].LastAccessedDate == nil || d.LastAccessedDate != nil {
		t.Fatalf("describe primary: %+v", d)
	}

	// Listing in each region; the primary-region filter.
	list := ok(west.ListSecrets(ctx, &secretsmanager.ListSecretsInput{}))(t)
	if len(list.SecretList) != 1 || aws.ToString(list.SecretList[0].ARN) != replicaARN || aws.ToString(list.SecretList[0].PrimaryRegion) != "us-east-1" {
		t.Fatalf("list in us-west-2: %+v", list.SecretList)
	}
	srv.CreateSecret("standalone", "x")
	for filter, want := range map[string]int{"us-east": 1, "us-west-2": 0} {
		list = ok(east.ListSecrets(ctx, &secretsmanager.ListSecretsInput{
			Filters: []types.Filter{{Key: types.FilterNameStringTypePrimaryRegion, Values: []string{filter}}},
		}))(t)
		if len(list.SecretList) != want {
			t.Fatalf("primary-region %s: %d secrets, want %d", filter, len(list.SecretList), want)
		}
	}
	batch := ok(west.BatchGetSecretValue(ctx, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"app/db", "standalone"}}))(t)
	if len(batch.SecretValues) != 1 || aws.ToString(batch.SecretValues[0].ARN) != replicaARN || len(batch.Errors) != 1 {
		t.Fatalf("batch in us-west-2: %+v", batch)
	}

	// A replica cannot be changed.
	id := aws.String("app/db")
	for name, call := range map[string]func() error{
		"PutSecretValue": func() error {
			_, err := west.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: id, SecretString: aws.String("x")})
			return err
		},
		"UpdateSecret": func() error {
			_, err := west.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: id, Description: aws.String("x")})
			return err
		},
		"UpdateSecretVersionStage": func() error {
			_, err := west.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: id, VersionStage: aws.String("L"), MoveToVersionId: v2.VersionId})
			return err
		},
		"DeleteSecret": func() error {
			_, err := west.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: id, ForceDeleteWithoutRecovery: aws.Bool(true)})
			return err
		},
		"RestoreSecret": func() error {
			_, err := west.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: id})
			return err
		},
		"RotateSecret": func() error {
			_, err := west.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: id})
			return err
		},
		"CancelRotateSecret": func() error {
			_, err := west.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: id})
			return err
		},
		"TagResource": func() error {
			_, err := west.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: id, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		},
		"UntagResource": func() error {
			_, err := west.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: id, TagKeys: []string{"k"}})
			return err
		},
		"ReplicateSecretToRegions": func() error {
			_, err := west.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{SecretId: id, AddReplicaRegions: replicaIn("eu-west-1")})
			return err
		},
		"RemoveRegionsFromReplication": func() error {
			_, err := west.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: id, RemoveReplicaRegions: []string{"us-west-2"}})
			return err
		},
	} {
		err := call()
		wantCode(t, err, "InvalidParameterException")
		if !strings.Contains(err.Error(), replicaRefused) {
			t.Errorf("%s on a replica: %v", name, err)
		}
	}
	// Nor a primary that has replicas be deleted.
	_, err = east.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: id})
	wantCode(t, err, "InvalidParameterException")
	if !strings.Contains(err.Error(), "You can't delete secret app/db that still has replica regions [us-west-2].") {
		t.Fatal(err)
	}
	// Nor a replica's name be taken in its region.
	_, err = west.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: id, SecretString: aws.String("x")})
	wantCode(t, err, "ResourceExistsException")

	// SecretCalls counts both regions by name.
	if n := srv.SecretCalls("GetSecretValue", "app/db"); n < 5 {
		t.Fatalf("SecretCalls = %d", n)
	}

	// Removing the replica deletes it; the primary is a standalone secret again.
	rm := ok(east.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: id, RemoveReplicaRegions: []string{"us-west-2", "eu-west-1"}}))(t)
	if aws.ToString(rm.ARN) != primaryARN || len(rm.ReplicationStatus) != 0 {
		t.Fatalf("RemoveRegionsFromReplication: %+v", rm)
	}
	_, err = west.GetSecretValue(ctx, getIn("app/db"))
	wantCode(t, err, "ResourceNotFoundException")
	d = ok(east.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: id}))(t)
	if d.PrimaryRegion != nil || d.ReplicationStatus != nil {
		t.Fatalf("describe after removal: %+v", d)
	}
	ok(east.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: id, ForceDeleteWithoutRecovery: aws.Bool(true)}))(t)
}

func TestReplicateSecretToRegions(t *testing.T) {
	srv, east := newServer(t, smtest.WithRegions("us-west-2", "eu-west-1"))
	west, eu := srv.ClientFor("us-west-2"), srv.ClientFor("eu-west-1")
	ctx := t.Context()
	arn := srv.CreateSecret("app/db", "v1")

	for region, code := range map[string]string{"us-east-1": "InvalidParameterException", "ap-south-1": "InvalidParameterException", "Bogus": "ValidationException"} {
		_, err := east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{SecretId: aws.String("app/db"), AddReplicaRegions: replicaIn(region)})
		wantCode(t, err, code)
	}
	out := ok(east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId:          aws.String("app/db"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-west-2"), KmsKeyId: aws.String("alias/west")}},
	}))(t)
	if aws.ToString(out.ARN) != arn || statuses(out.ReplicationStatus) != "us-west-2 InSync Replication succeeded alias/west" {
		t.Fatalf("ReplicateSecretToRegions: %+v", out)
	}
	d := ok(west.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/db")}))(t)
	if aws.ToString(d.KmsKeyId) != "alias/west" || aws.ToString(d.ARN) != inRegion(arn, "us-west-2") {
		t.Fatalf("replica's key: %+v", d)
	}
	// Again: nothing changes.
	out = ok(east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{SecretId: aws.String("app/db"), AddReplicaRegions: replicaIn("us-west-2")}))(t)
	if len(out.ReplicationStatus) != 1 {
		t.Fatalf("replicated twice: %s", statuses(out.ReplicationStatus))
	}

	// A region that has a secret of the same name: Failed, unless forced.
	ok(eu.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("eu's own")}))(t)
	out = ok(east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{SecretId: aws.String("app/db"), AddReplicaRegions: replicaIn("eu-west-1")}))(t)
	want := "us-west-2 InSync Replication succeeded alias/west; eu-west-1 Failed Replication failed: Secret name app/db already exists in region eu-west-1. alias/aws/secretsmanager"
	if got := statuses(out.ReplicationStatus); got != want {
		t.Fatalf("conflict: %s", got)
	}
	if s := getString(t, eu, "app/db"); s != "eu's own" {
		t.Fatalf("eu-west-1 secret overwritten without force: %q", s)
	}
	out = ok(east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String("app/db"), AddReplicaRegions: replicaIn("eu-west-1"), ForceOverwriteReplicaSecret: true,
	}))(t)
	if got := statuses(out.ReplicationStatus); got != "us-west-2 InSync Replication succeeded alias/west; eu-west-1 InSync Replication succeeded alias/aws/secretsmanager" {
		t.Fatalf("forced: %s", got)
	}
	if s := getString(t, eu, "app/db"); s != "v1" {
		t.Fatalf("eu-west-1 after a forced replication: %q", s)
	}

	// CreateSecret with an unserved replica region creates nothing.
	_, err := east.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("other"), SecretString: aws.String("x"), AddReplicaRegions: replicaIn("ap-south-1")})
	wantCode(t, err, "InvalidParameterException")
	_, err = east.GetSecretValue(ctx, getIn("other"))
	wantCode(t, err, "ResourceNotFoundException")
}

func TestRegionRouting(t *testing.T) {
	srv, east := newServer(t, smtest.WithRegions("us-west-2"))
	west := srv.ClientFor("us-west-2")
	ctx := t.Context()

	// Each region has its own secrets; one name can be in both.
	e := ok(east.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("east")}))(t)
	w := ok(west.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("west")}))(t)
	if !strings.Contains(*e.ARN, ":us-east-1:") || !strings.Contains(*w.ARN, ":us-west-2:") {
		t.Fatalf("ARNs %s, %s", *e.ARN, *w.ARN)
	}
	if getString(t, east, "db") != "east" || getString(t, west, "db") != "west" {
		t.Fatal("regions share their secrets")
	}
	if srv.CallsIn("us-west-2", "GetSecretValue") != 1 || srv.CallsIn("us-east-1", "") != 2 {
		t.Fatalf("CallsIn: west %d, east %d", srv.CallsIn("us-west-2", "GetSecretValue"), srv.CallsIn("us-east-1", ""))
	}
	if log := srv.Log(); log[len(log)-1].Region != "us-west-2" {
		t.Fatalf("Call.Region = %q", log[len(log)-1].Region)
	}

	// A region the server does not serve is refused like a bad signature.
	_, err := srv.ClientFor("eu-central-1").GetSecretValue(ctx, getIn("db"))
	wantCode(t, err, "InvalidSignatureException")
	for _, opt := range []smtest.Option{smtest.WithRegions("not a region"), smtest.WithRegion("west")} {
		if _, err := smtest.Start(opt); !errors.Is(err, smtest.ErrInvalidRegion) {
			t.Fatalf("Start with an invalid region: %v, want ErrInvalidRegion", err)
		}
	}
}

func TestRegionOutage(t *testing.T) {
	srv, east := newServer(t, smtest.WithRegions("us-west-2"))
	west := srv.ClientFor("us-west-2")
	ctx := t.Context()
	ok(east.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("v1"), AddReplicaRegions: replicaIn("us-west-2")}))(t)
	getString(t, west, "db") // leaves a keep-alive connection behind

	srv.RegionOutage("us-east-1")
	_, err := east.GetSecretValue(ctx, getIn("db"))
	var ae smithy.APIError
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("during the outage of us-east-1: %v, want an error without an API code", err)
	}
	t.Logf("SDK error during the region outage: %v", err)
	if s := getString(t, west, "db"); s != "v1" {
		t.Fatalf("us-west-2 during the outage of us-east-1: %q", s)
	}
	log := srv.Log()
	if c := log[len(log)-2]; c.Region != "us-east-1" || c.ErrorCode != "RegionOutage" {
		t.Fatalf("dropped call logged as %+v", c)
	}
	srv.RegionRestore("us-east-1")
	if s := getString(t, east, "db"); s != "v1" {
		t.Fatalf("after RegionRestore: %q", s)
	}
}

func TestFailNextIn(t *testing.T) {
	srv, east := newServer(t, smtest.WithRegions("us-west-2"))
	west := srv.ClientFor("us-west-2")
	ctx := t.Context()
	ok(east.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: aws.String("v1"), AddReplicaRegions: replicaIn("us-west-2")}))(t)

	srv.FailNextIn("us-east-1", "GetSecretValue", 2, "ServiceUnavailable")
	getString(t, west, "db")
	_, err := east.GetSecretValue(ctx, getIn("db"))
	wantCode(t, err, "ServiceUnavailable")
	if httpStatus(t, err) != 500 {
		t.Fatal("not a 5xx")
	}
	srv.FailNextIn("us-east-1", "GetSecretValue", 0, "") // cancels the second
	getString(t, east, "db")

	srv.FailNextIn("us-west-2", "", 1, "ThrottlingException")
	getString(t, east, "db")
	_, err = west.GetSecretValue(ctx, getIn("db"))
	wantCode(t, err, "ThrottlingException")
	getString(t, west, "db")

	// FailNext applies to every region.
	srv.FailNext("GetSecretValue", 1, "InternalServiceError")
	_, err = west.GetSecretValue(ctx, getIn("db"))
	wantCode(t, err, "InternalServiceError")
	getString(t, east, "db")
}

// TestReplicasAgainstMoto runs one replica scenario against smtest and
// against moto's server and compares what a client sees.
func TestReplicasAgainstMoto(t *testing.T) {
	motoURL := startMoto(t)
	srv, _ := newServer(t, smtest.WithRegions("us-west-2"))
	clients := func(endpoint string, transport aws.HTTPClient) func(region string) *secretsmanager.Client {
		return func(region string) *secretsmanager.Client {
			cfg := srv.ConfigFor(region)
			cfg.BaseEndpoint = aws.String(endpoint)
			cfg.HTTPClient = transport
			return secretsmanager.NewFromConfig(cfg)
		}
	}
	ours := replicaScenario(t, clients(srv.URL, srv.Config().HTTPClient))
	theirs := replicaScenario(t, clients(motoURL, http.DefaultClient))

	// Where they differ, the reason; see the package documentation.
	known := map[string]string{
		"describe primary: PrimaryRegion":     "moto leaves PrimaryRegion out of the primary's DescribeSecret; smtest shows it on every replicated secret, primary or replica.",
		"describe replica: ReplicationStatus": "moto copies the primary's ReplicationStatus into the replica's DescribeSecret; smtest shows it on the primary only, the secret that has replicas.",
	}
	for _, k := range sortedKeys(ours, theirs) {
		if ours[k] == theirs[k] {
			t.Logf("same: %s = %s", k, ours[k])
			continue
		}
		if reason, ok := known[k]; ok {
			t.Logf("known difference: %s: smtest %q, moto %q — %s", k, ours[k], theirs[k], reason)
			continue
		}
		t.Errorf("%s: smtest %q, moto %q", k, ours[k], theirs[k])
	}
}

func sortedKeys(ms ...map[string]string) []string {
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// replicaScenario creates a secret in us-east-1 replicated to us-west-2,
// reads and describes it on both sides, and tries to change the replica;
// it returns what it saw.
func replicaScenario(t *testing.T, client func(region string) *secretsmanager.Client) map[string]string {
	t.Helper()
	east, west := client("us-east-1"), client("us-west-2")
	ctx := t.Context()
	seen := map[string]string{}
	code := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		if err != nil {
			return "non-API error: " + err.Error()
		}
		return "success"
	}
	const name = "moto/replica"
	c, err := east.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v1"), AddReplicaRegions: replicaIn("us-west-2")})
	if err != nil {
		t.Fatal(err)
	}
	seen["create: ReplicationStatus"] = statuses(c.ReplicationStatus)
	primaryARN := aws.ToString(c.ARN)

	g, err := west.GetSecretValue(ctx, getIn(name))
	seen["get replica"] = code(err)
	if err == nil {
		seen["get replica: value"] = aws.ToString(g.SecretString)
		seen["get replica: ARN is the primary's in us-west-2"] = boolString(aws.ToString(g.ARN) == inRegion(primaryARN, "us-west-2"))
		seen["get replica: same version"] = boolString(aws.ToString(g.VersionId) == aws.ToString(c.VersionId))
	}
	dw, err := west.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	seen["describe replica"] = code(err)
	if err == nil {
		seen["describe replica: PrimaryRegion"] = aws.ToString(dw.PrimaryRegion)
		seen["describe replica: ReplicationStatus"] = statuses(dw.ReplicationStatus)
	}
	de, err := east.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	seen["describe primary"] = code(err)
	if err == nil {
		seen["describe primary: PrimaryRegion"] = aws.ToString(de.PrimaryRegion)
		seen["describe primary: ReplicationStatus"] = statuses(de.ReplicationStatus)
	}
	_, err = west.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("x")})
	seen["put to replica"] = code(err)
	if err != nil {
		seen["put to replica: message has"] = boolString(strings.Contains(err.Error(), replicaRefused))
	}
	_, err = east.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String("v2")})
	seen["put to primary"] = code(err)
	if g, err := west.GetSecretValue(ctx, getIn(name)); err == nil {
		seen["get replica after put: value"] = aws.ToString(g.SecretString)
	}
	_, err = east.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true)})
	seen["delete primary with replicas"] = code(err)
	_, err = east.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: aws.String(name), RemoveReplicaRegions: []string{"us-west-2"}})
	seen["remove replica"] = code(err)
	_, err = west.GetSecretValue(ctx, getIn(name))
	seen["get removed replica"] = code(err)
	return seen
}

func boolString(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
