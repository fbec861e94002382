package smtest_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/secretsql/secretsql/internal/mototest"
	"github.com/secretsql/secretsql/smtest"
)

// This file runs one sequence of API calls against smtest and against
// moto's server (a Secrets Manager emulator nobody here wrote) and compares
// the answers field by field, ignoring version IDs, ARN suffixes and dates,
// and the error codes. The differences that remain are listed in
// knownDifferences, each with the reason smtest keeps its behaviour (see
// also the package documentation).

// startMoto starts moto's server for the test and returns its URL.
func startMoto(t *testing.T) string { return mototest.Start(t) }

// diffStep is one call of the sequence. Body may name ${VAR}: a client
// token of the run or a version ID captured by an earlier step.
type diffStep struct {
	name    string
	op      string
	body    string
	capture string // name under which the answer's VersionId is kept
}

// knownDifferences are the differences between smtest and moto that the
// test accepts, keyed by "step|path" or "Operation|path" (path "error" for
// the error code of a call that failed on either side), with the reason
// smtest keeps its behaviour.
var knownDifferences = map[string]string{
	"DescribeSecret|SecretVersionsToStages":                           "moto adds ListSecrets' SecretVersionsToStages to DescribeSecret answers; the API reference has only VersionIdsToStages there.",
	"DescribeSecret|LastAccessedDate":                                 "moto never reports LastAccessedDate; smtest reports the day of the last GetSecretValue, as AWS does.",
	"ListSecrets|SecretList.0.VersionIdsToStages":                     "moto adds DescribeSecret's VersionIdsToStages to ListSecrets entries; the API reference has only SecretVersionsToStages there.",
	"ListSecrets|SecretList.0.LastAccessedDate":                       "moto never reports LastAccessedDate.",
	"ListSecretVersionIds|ARN":                                        "moto puts the secret's name in the ARN member of ListSecretVersionIds.",
	"ListSecretVersionIds|NextToken":                                  "moto answers an empty NextToken (\"\") on the last page instead of leaving it out; an SDK paginator would ask for a next page with it.",
	"list versions of c|Versions":                                     "moto ignores IncludeDeprecated (false by default) and also lists the version without a staging label; the API reference says deprecated versions are left out.",
	"list versions of c, with deprecated|Versions.0.LastAccessedDate": "moto reports every version as accessed now; smtest only versions that GetSecretValue read, as AWS does.",
	"list versions of c, with deprecated|Versions.1.LastAccessedDate": "moto reports every version as accessed now.",
	"list versions of c, with deprecated|Versions.2.LastAccessedDate": "moto reports every version as accessed now.",
	"list versions of c, with deprecated|Versions.0.VersionStages":    "For a version without labels moto answers an empty VersionStages list, smtest leaves the member out; clients read both as no labels.",
	"list secrets|SecretList.0.SecretVersionsToStages.<C1>":           "moto lists the version without labels in SecretVersionsToStages; the API reference lists only versions that have staging labels.",
	"move a custom label without RemoveFromVersionId|error":           "The API reference requires RemoveFromVersionId when the label is attached to another version (smtest: InvalidParameterException); moto attaches the label to a second version.",
	"remove AWSCURRENT without moving it|error":                       "AWSCURRENT can only be moved (smtest: InvalidParameterException); moto removes it, leaving the secret without a current version.",
	"move to an unknown version|error":                                "For a version that does not exist smtest answers ResourceNotFoundException, moto InvalidParameterException; the API reference does not say which.",
	"put to a deleted secret|error":                                   "The API reference refuses changes to a secret scheduled for deletion (smtest: InvalidRequestException); moto stores the new version.",
	"get with a mismatched stage|error":                               "For a VersionId and a VersionStage that name different versions moto answers InvalidRequestException; smtest answers ResourceNotFoundException, as for any version it cannot find (not documented either way).",
	"delete a missing secret, forced|error":                           "moto answers success for a forced delete of a secret that does not exist; smtest answers ResourceNotFoundException as for any missing secret (not documented either way).",
	"short ClientRequestToken|error":                                  "A token shorter than 32 characters violates the model's length constraint, which AWS answers with ValidationException (as smtest); moto answers InvalidParameterException.",
	"invalid name|error":                                              "The API reference allows only ASCII letters, digits and /_+=.@- in names (smtest: InvalidParameterException); moto accepts the name.",
	"describe a after the put|VersionIdsToStages.<P>.0":               "After UpdateSecretVersionStage moved AWSCURRENT, moto's PutSecretValue gives AWSPREVIOUS to the version that was current before the move and leaves AWSCURRENT on the moved-to version too (two versions with AWSCURRENT); smtest moves AWSCURRENT and gives AWSPREVIOUS to the version it left, as the API reference documents.",
	"describe a after the put|VersionIdsToStages.<V1>":                "moto's PutSecretValue after a move labels the wrong version AWSPREVIOUS (see the step's other difference).",
}

func TestDifferentialAgainstMoto(t *testing.T) {
	motoURL := startMoto(t)
	srv := smtest.NewServer()
	t.Cleanup(srv.Close)

	tokens := map[string]string{}
	for _, k := range []string{"TB1", "TP", "TA3", "TX2", "TY2"} {
		tokens[k] = uuid.NewString()
	}
	steps := []diffStep{
		// Creation, with and without a client token.
		{"create a without token", "CreateSecret", `{"Name":"diff/a","SecretString":"v1","Description":"first"}`, "V1"},
		{"create b with token", "CreateSecret", `{"Name":"diff/b","SecretString":"b1","ClientRequestToken":"${TB1}"}`, "B1"},
		{"create b again, same token and value", "CreateSecret", `{"Name":"diff/b","SecretString":"b1","ClientRequestToken":"${TB1}"}`, ""},
		{"create b again, other value", "CreateSecret", `{"Name":"diff/b","SecretString":"other","ClientRequestToken":"${TB1}"}`, ""},
		{"create a again without token", "CreateSecret", `{"Name":"diff/a","SecretString":"v1"}`, ""},
		// AWSPENDING, then AWSCURRENT moved to it.
		{"put AWSPENDING", "PutSecretValue", `{"SecretId":"diff/a","SecretString":"v2","VersionStages":["AWSPENDING"],"ClientRequestToken":"${TP}"}`, "P"},
		{"put AWSPENDING again", "PutSecretValue", `{"SecretId":"diff/a","SecretString":"v2","VersionStages":["AWSPENDING"],"ClientRequestToken":"${TP}"}`, ""},
		{"get AWSPENDING", "GetSecretValue", `{"SecretId":"diff/a","VersionStage":"AWSPENDING"}`, ""},
		{"get AWSCURRENT by version", "GetSecretValue", `{"SecretId":"diff/a","VersionId":"${V1}"}`, ""},
		{"describe a", "DescribeSecret", `{"SecretId":"diff/a"}`, ""},
		{"list versions of a", "ListSecretVersionIds", `{"SecretId":"diff/a"}`, ""},
		{"move AWSCURRENT without RemoveFromVersionId", "UpdateSecretVersionStage", `{"SecretId":"diff/a","VersionStage":"AWSCURRENT","MoveToVersionId":"${P}"}`, ""},
		{"move AWSCURRENT", "UpdateSecretVersionStage", `{"SecretId":"diff/a","VersionStage":"AWSCURRENT","MoveToVersionId":"${P}","RemoveFromVersionId":"${V1}"}`, ""},
		{"get AWSPREVIOUS", "GetSecretValue", `{"SecretId":"diff/a","VersionStage":"AWSPREVIOUS"}`, ""},
		{"describe a after the move", "DescribeSecret", `{"SecretId":"diff/a"}`, ""},
		{"list versions of a after the move", "ListSecretVersionIds", `{"SecretId":"diff/a"}`, ""},
		{"remove AWSPENDING", "UpdateSecretVersionStage", `{"SecretId":"diff/a","VersionStage":"AWSPENDING","RemoveFromVersionId":"${P}"}`, ""},
		{"attach a custom label", "UpdateSecretVersionStage", `{"SecretId":"diff/a","VersionStage":"LABEL1","MoveToVersionId":"${V1}"}`, ""},
		{"move a custom label", "UpdateSecretVersionStage", `{"SecretId":"diff/a","VersionStage":"LABEL1","MoveToVersionId":"${P}","RemoveFromVersionId":"${V1}"}`, ""},
		{"put a new current version after a move", "PutSecretValue", `{"SecretId":"diff/a","SecretString":"v3","ClientRequestToken":"${TA3}"}`, "V3"},
		{"describe a after the put", "DescribeSecret", `{"SecretId":"diff/a"}`, ""},
		// Deprecated versions, on a secret changed by PutSecretValue only.
		{"create c", "CreateSecret", `{"Name":"diff/c","SecretString":"c1"}`, "C1"},
		{"put c2", "PutSecretValue", `{"SecretId":"diff/c","SecretString":"c2"}`, "C2"},
		{"put c3", "PutSecretValue", `{"SecretId":"diff/c","SecretString":"c3"}`, "C3"},
		{"list versions of c", "ListSecretVersionIds", `{"SecretId":"diff/c"}`, ""},
		{"list versions of c, with deprecated", "ListSecretVersionIds", `{"SecretId":"diff/c","IncludeDeprecated":true}`, ""},
		{"get AWSPREVIOUS of c", "GetSecretValue", `{"SecretId":"diff/c","VersionStage":"AWSPREVIOUS"}`, ""},
		{"get with a mismatched stage", "GetSecretValue", `{"SecretId":"diff/c","VersionId":"${C3}","VersionStage":"AWSPREVIOUS"}`, ""},
		{"list secrets", "ListSecrets", `{"Filters":[{"Key":"name","Values":["diff/c"]}]}`, ""},
		{"batch get", "BatchGetSecretValue", `{"SecretIdList":["diff/c","diff/missing"]}`, ""},
		// Label moves the API refuses, on a secret of their own.
		{"create x", "CreateSecret", `{"Name":"diff/x","SecretString":"x1"}`, "X1"},
		{"put x2", "PutSecretValue", `{"SecretId":"diff/x","SecretString":"x2","VersionStages":["AWSPENDING"],"ClientRequestToken":"${TX2}"}`, "X2"},
		{"attach a custom label to x1", "UpdateSecretVersionStage", `{"SecretId":"diff/x","VersionStage":"LABEL1","MoveToVersionId":"${X1}"}`, ""},
		{"move a custom label without RemoveFromVersionId", "UpdateSecretVersionStage", `{"SecretId":"diff/x","VersionStage":"LABEL1","MoveToVersionId":"${X2}"}`, ""},
		{"remove AWSCURRENT without moving it", "UpdateSecretVersionStage", `{"SecretId":"diff/x","VersionStage":"AWSCURRENT","RemoveFromVersionId":"${X1}"}`, ""},
		{"move to an unknown version", "UpdateSecretVersionStage", `{"SecretId":"diff/x","VersionStage":"LABEL2","MoveToVersionId":"00000000-0000-0000-0000-000000000000"}`, ""},
		// Deletion with and without a recovery window, and restore.
		{"delete b in 7 days", "DeleteSecret", `{"SecretId":"diff/b","RecoveryWindowInDays":7}`, ""},
		{"get deleted b", "GetSecretValue", `{"SecretId":"diff/b"}`, ""},
		{"describe deleted b", "DescribeSecret", `{"SecretId":"diff/b"}`, ""},
		{"delete b again", "DeleteSecret", `{"SecretId":"diff/b"}`, ""},
		{"restore b", "RestoreSecret", `{"SecretId":"diff/b"}`, ""},
		{"get restored b", "GetSecretValue", `{"SecretId":"diff/b"}`, ""},
		{"delete b, forced", "DeleteSecret", `{"SecretId":"diff/b","ForceDeleteWithoutRecovery":true}`, ""},
		{"get forced-deleted b", "GetSecretValue", `{"SecretId":"diff/b"}`, ""},
		{"delete a, 30 days by default", "DeleteSecret", `{"SecretId":"diff/a"}`, ""},
		{"restore a", "RestoreSecret", `{"SecretId":"diff/a"}`, ""},
		{"create y", "CreateSecret", `{"Name":"diff/y","SecretString":"y1"}`, "Y1"},
		{"delete y", "DeleteSecret", `{"SecretId":"diff/y","RecoveryWindowInDays":30}`, ""},
		{"put to a deleted secret", "PutSecretValue", `{"SecretId":"diff/y","SecretString":"y2","ClientRequestToken":"${TY2}"}`, ""},
		// Invalid parameters.
		{"recovery window too short", "DeleteSecret", `{"SecretId":"diff/a","RecoveryWindowInDays":3}`, ""},
		{"recovery window and force", "DeleteSecret", `{"SecretId":"diff/a","RecoveryWindowInDays":7,"ForceDeleteWithoutRecovery":true}`, ""},
		{"delete a missing secret, forced", "DeleteSecret", `{"SecretId":"diff/missing","ForceDeleteWithoutRecovery":true}`, ""},
		{"short ClientRequestToken", "CreateSecret", `{"Name":"diff/d","SecretString":"x","ClientRequestToken":"short"}`, ""},
		{"invalid name", "CreateSecret", `{"Name":"diff/d e!","SecretString":"x"}`, ""},
		{"put without a value", "PutSecretValue", `{"SecretId":"diff/a"}`, ""},
		{"get a missing secret", "GetSecretValue", `{"SecretId":"diff/missing"}`, ""},
		{"get a missing version", "GetSecretValue", `{"SecretId":"diff/a","VersionId":"00000000-0000-0000-0000-000000000000"}`, ""},
		{"get a missing stage", "GetSecretValue", `{"SecretId":"diff/a","VersionStage":"NOPE"}`, ""},
	}
	ours := runSteps(t, srv.URL, srv.Region, steps, tokens)
	theirs := runSteps(t, motoURL, srv.Region, steps, tokens)

	fields, known := 0, 0
	seen := map[string]bool{}
	for i, st := range steps {
		n, diffs := diffJSON(ours[i], theirs[i])
		fields += n
		for _, d := range diffs {
			key := st.name + "|" + d.path
			reason, ok := knownDifferences[key]
			if !ok {
				key = st.op + "|" + d.path
				reason, ok = knownDifferences[key]
			}
			seen[key] = true
			if !ok {
				t.Errorf("step %q (%s): %s differs: smtest %s, moto %s", st.name, st.op, d.path, d.ours, d.theirs)
				continue
			}
			known++
			t.Logf("difference %d, step %q (%s), %s: smtest %s, moto %s — %s", known, st.name, st.op, d.path, d.ours, d.theirs, reason)
		}
	}
	for key := range knownDifferences {
		if !seen[key] {
			t.Errorf("listed difference %q did not occur (a newer moto? drop it from knownDifferences)", key)
		}
	}
	t.Logf("compared %d calls (%d answer fields and error codes): %d known differences, each explained above", len(steps), fields, known)
}

// runSteps runs the steps against endpoint and returns each answer,
// normalized: {"error": code} for errors, otherwise the JSON body with
// version IDs replaced by their capture names, ARNs by "ARN(name)", dates
// by "<date>", staging label lists sorted, and null members left out.
func runSteps(t *testing.T, endpoint, region string, steps []diffStep, tokens map[string]string) []any {
	t.Helper()
	vars := map[string]string{}
	for k, v := range tokens {
		vars[k] = v
	}
	names := map[string]string{} // version ID -> capture name
	for k, v := range tokens {
		names[v] = "token " + k
	}
	var out []any
	for _, st := range steps {
		body := os.Expand(st.body, func(k string) string { return vars[k] })
		r := do(t, signedRequestTo(t, endpoint, st.op, body, signOpts{region: region}))
		if r.Status != 200 {
			out = append(out, map[string]any{"error": r.Type})
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(r.Body, &m); err != nil {
			t.Fatalf("%s: %s answered %q: %v", st.name, endpoint, r.Body, err)
		}
		if id, ok := m["VersionId"].(string); ok && st.capture != "" {
			vars[st.capture] = id
			if _, known := names[id]; !known || strings.HasPrefix(names[id], "token ") {
				names[id] = st.capture
			}
		}
		out = append(out, normalize("", m, names))
	}
	return out
}

var arnPattern = regexp.MustCompile(`^arn:aws:secretsmanager:[a-z0-9-]+:[0-9]+:secret:(.+)-[A-Za-z0-9]{6}$`)

func normalize(key string, v any, names map[string]string) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if e == nil {
				continue
			}
			nk := k
			if n, ok := names[k]; ok {
				nk = "<" + n + ">"
			}
			out[nk] = normalize(k, e, names)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(key, e, names)
		}
		if key == "VersionStages" || strings.HasPrefix(key, "<") || names[key] != "" {
			sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
		}
		return out
	case string:
		if n, ok := names[v]; ok {
			return "<" + n + ">"
		}
		if m := arnPattern.FindStringSubmatch(v); m != nil {
			return "ARN(" + m[1] + ")"
		}
		return v
	case float64:
		if strings.HasSuffix(key, "Date") {
			return "<date>"
		}
	}
	return v
}

type difference struct{ path, ours, theirs string }

// diffJSON compares two normalized answers member by member and returns
// how many leaves it compared and the differences. A member present on one
// side only is a difference at its path; when either answer is an error,
// only the error codes are compared (path "error").
func diffJSON(a, b any) (int, []difference) {
	show := func(v any) string {
		if v == nil {
			return "(absent)"
		}
		s, _ := json.Marshal(v)
		return string(s)
	}
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	if _, isErr := am["error"]; isErr || bm["error"] != nil {
		if show(am["error"]) != show(bm["error"]) {
			return 1, []difference{{"error", show(am["error"]), show(bm["error"])}}
		}
		return 1, nil
	}
	n := 0
	var out []difference
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		am, aok := a.(map[string]any)
		bm, bok := b.(map[string]any)
		al, alok := a.([]any)
		bl, blok := b.([]any)
		switch {
		case aok && bok:
			keys := slices.Collect(maps.Keys(am))
			for k := range bm {
				if _, dup := am[k]; !dup {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(strings.TrimPrefix(path+"."+k, "."), am[k], bm[k])
			}
		case alok && blok && len(al) == len(bl):
			for i := range al {
				walk(fmt.Sprintf("%s.%d", path, i), al[i], bl[i])
			}
		default:
			n++
			if show(a) != show(b) {
				out = append(out, difference{path, show(a), show(b)})
			}
		}
	}
	walk("", a, b)
	return n, out
}
