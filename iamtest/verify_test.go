package iamtest_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/secretsql/secretsql/iamtest"
)

// errs are the refusal reasons: a refusal must match exactly one.
var errs = []error{
	iamtest.ErrMalformed, iamtest.ErrUnknownKey, iamtest.ErrSignature, iamtest.ErrExpired,
	iamtest.ErrNotYetValid, iamtest.ErrWrongUser, iamtest.ErrWrongEndpoint, iamtest.ErrWrongAction,
	iamtest.ErrWrongScope, iamtest.ErrSessionToken,
}

// check verifies token with k's settings for user on port at now and
// reports a mismatch with want (nil: accepted). It never prints the token.
func check(t *testing.T, name, token, user string, port int, k iamtest.AccessKey, now time.Time, want error) *iamtest.Token {
	t.Helper()
	tok, err := iamtest.Verify(token, k.Expect(user, port, now), lookup(k))
	if want == nil {
		if err != nil {
			t.Errorf("%s: refused: %v", name, err)
		}
		return tok
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", name, err, want)
		return nil
	}
	n := 0
	for _, e := range errs {
		if errors.Is(err, e) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%s: %v matches %d reasons, want 1", name, err, n)
	}
	if m := sigRE.FindStringSubmatch(token); m != nil && strings.Contains(err.Error(), m[1]) {
		t.Errorf("%s: the error shows the signature: %v", name, err)
	}
	if k.SessionToken != "" && strings.Contains(err.Error(), k.SessionToken[:16]) {
		t.Errorf("%s: the error shows the session token: %v", name, err)
	}
	return nil
}

var sigRE = regexp.MustCompile(`X-Amz-Signature=([0-9a-fA-F]{16,})`)

// lookup knows k only.
func lookup(k iamtest.AccessKey) iamtest.Lookup {
	return func(id string) (iamtest.Key, bool) {
		if id != k.AccessKeyID {
			return iamtest.Key{}, false
		}
		return k.Key(), true
	}
}

// TestBotocoreTokens: tokens of botocore's generate_db_auth_token and of the
// DSQL generators are accepted; the same tokens with one byte changed, for
// another user, or expired are refused.
func TestBotocoreTokens(t *testing.T) {
	t.Parallel()
	k := iamtest.NewKey(iamtest.AccessKey{Region: "us-east-1"})
	sess := k
	sess.SessionToken = "FwoGZXIvYXdzEXAMPLE//session+token/" + strings.Repeat("x", 600) + "=="
	const user = "app_user"
	boto := botocore(t, "127.0.0.1", 5432, user, k, sess.SessionToken)
	now := time.Now()

	tok := check(t, "botocore RDS", boto.RDS, user, 5432, k, now, nil)
	if tok != nil && (tok.Action != "connect" || tok.User != user || tok.Endpoint != "127.0.0.1:5432" || tok.AccessKeyID != k.AccessKeyID) {
		t.Errorf("botocore RDS: %+v", tok)
	}
	if !strings.HasPrefix(boto.RDS, "127.0.0.1:5432/?Action=connect&") {
		t.Errorf("botocore's token does not start with host:port/?Action=connect (the form it was expected to have)")
	}
	// botocore signs the host in lower case, but keeps its case in the token.
	if !strings.HasPrefix(boto.RDSMixed, "LocalHost:5432/?") {
		t.Errorf("botocore's token for LocalHost does not start with LocalHost:5432/?")
	}
	check(t, "botocore RDS, LocalHost", boto.RDSMixed, user, 5432, k, now, nil)
	check(t, "botocore RDS, session token", boto.RDSSession, user, 5432, sess, now, nil)
	check(t, "botocore RDS, session token missing from the key", boto.RDSSession, user, 5432, k, now, iamtest.ErrSessionToken)

	dsqlKey := k
	dsqlKey.Mode = iamtest.DSQL
	check(t, "botocore DSQL DbConnect", boto.DSQL, user, 0, dsqlKey, now, nil)
	check(t, "botocore DSQL DbConnectAdmin", boto.DSQLAdmin, "admin", 0, dsqlKey, now, nil)
	check(t, "botocore DSQL DbConnect for admin", boto.DSQL, "admin", 0, dsqlKey, now, iamtest.ErrWrongAction)
	check(t, "botocore DSQL DbConnectAdmin for a user", boto.DSQLAdmin, user, 0, dsqlKey, now, iamtest.ErrWrongAction)
	check(t, "botocore RDS token in DSQL mode", boto.RDS, user, 0, dsqlKey, now, iamtest.ErrWrongScope)

	forged(t, boto.RDS, user, 5432, k, now)
	forged(t, boto.DSQL, user, 0, dsqlKey, now)
}

// TestGoSDKTokens: the same with aws-sdk-go-v2's feature/rds/auth and with
// DSQL tokens made as feature/dsql/auth makes them.
func TestGoSDKTokens(t *testing.T) {
	t.Parallel()
	k := iamtest.NewKey(iamtest.AccessKey{Region: "us-east-1"})
	const user = "app_user"
	now := time.Now()
	tokRDS := rdsToken(t, "127.0.0.1:5432", user, k)
	if !strings.HasPrefix(tokRDS, "127.0.0.1:5432?Action=connect&") {
		t.Errorf("aws-sdk-go-v2's token does not start with host:port?Action=connect (the form it was expected to have)")
	}
	check(t, "feature/rds/auth", tokRDS, user, 5432, k, now, nil)
	forged(t, tokRDS, user, 5432, k, now)

	sess := k
	sess.SessionToken = "IQoJb3JpZ2luX2VjEXAMPLE/" + strings.Repeat("y", 700) + "+=="
	check(t, "feature/rds/auth with a session token", rdsToken(t, "127.0.0.1:5432", user, sess), user, 5432, sess, now, nil)

	dsqlKey := k
	dsqlKey.Mode = iamtest.DSQL
	dsqlKey.AdminUser = "boss"
	tokDSQL := dsqlToken(t, "localhost", iamtest.ActionDBConnect, k, now, 0)
	check(t, "DSQL DbConnect", tokDSQL, user, 0, dsqlKey, now, nil)
	check(t, "DSQL DbConnectAdmin for the admin user", dsqlToken(t, "localhost", iamtest.ActionDBConnectAdmin, k, now, 0), "boss", 0, dsqlKey, now, nil)
	check(t, "DSQL DbConnect for the admin user", tokDSQL, "boss", 0, dsqlKey, now, iamtest.ErrWrongAction)
	check(t, "DSQL, a week", dsqlToken(t, "localhost", iamtest.ActionDBConnect, k, now, 7*24*time.Hour), user, 0, dsqlKey, now.Add(6*24*time.Hour), nil)
	check(t, "DSQL token with a port", dsqlToken(t, "localhost:5432", iamtest.ActionDBConnect, k, now, 0), user, 0, dsqlKey, now, iamtest.ErrWrongEndpoint)
	forged(t, tokDSQL, user, 0, dsqlKey, now)
}

// forged checks that a valid token is refused with one byte changed at
// any position, for another user, after its lifetime, on another endpoint
// or port, or with another region, and with an unknown or another key.
func forged(t *testing.T, token, user string, port int, k iamtest.AccessKey, now time.Time) {
	t.Helper()
	if _, err := iamtest.Verify(token, k.Expect(user, port, now), lookup(k)); err != nil {
		t.Fatalf("the token to forge is refused: %v", err)
	}
	for i := range len(token) {
		b := []byte(token)
		b[i] ^= 1
		if _, err := iamtest.Verify(string(b), k.Expect(user, port, now), lookup(k)); err == nil {
			t.Errorf("byte %d (%q → %q) changed: accepted", i, token[i], b[i])
		}
	}
	if k.Mode != iamtest.DSQL {
		check(t, "another user's token", token, "other_user", port, k, now, iamtest.ErrWrongUser)
		check(t, "another port", token, user, port+1, k, now, iamtest.ErrWrongEndpoint)
	}
	other := k
	other.Hosts = []string{"db.example.com"}
	check(t, "another host", token, user, port, other, now, iamtest.ErrWrongEndpoint)
	other = k
	other.Region = "eu-west-1"
	check(t, "another region", token, user, port, other, now, iamtest.ErrWrongScope)
	check(t, "expired (15 min)", token, user, port, k, now.Add(15*time.Minute+time.Second), iamtest.ErrExpired)
	check(t, "not yet valid", token, user, port, k, now.Add(-10*time.Minute), iamtest.ErrNotYetValid)
	short := k
	short.Lifetime = 2 * time.Second
	check(t, "within a 2 s lifetime", token, user, port, short, now, nil)
	check(t, "past a 2 s lifetime", token, user, port, short, now.Add(3*time.Second), iamtest.ErrExpired)
	other = iamtest.NewKey(iamtest.AccessKey{Mode: k.Mode, AccessKeyID: k.AccessKeyID})
	check(t, "another secret key", token, user, port, other, now, iamtest.ErrSignature)
	if _, err := iamtest.Verify(token, k.Expect(user, port, now), lookup(iamtest.NewKey(iamtest.AccessKey{}))); !errors.Is(err, iamtest.ErrUnknownKey) {
		t.Errorf("unknown key: got %v, want ErrUnknownKey", err)
	}
}

// TestWrongAction: tokens signed correctly but with another action or for
// another service are refused.
func TestWrongAction(t *testing.T) {
	t.Parallel()
	k := iamtest.NewKey(iamtest.AccessKey{})
	now := time.Now()
	const user = "app_user"
	rds := func(action, service string) string {
		return presign(t, "127.0.0.1:5432", service, map[string]string{"Action": action, "DBUser": user, "X-Amz-Expires": "900"}, k, now)
	}
	check(t, "RDS control", rds("connect", "rds-db"), user, 5432, k, now, nil)
	check(t, "RDS DbConnect", rds("DbConnect", "rds-db"), user, 5432, k, now, iamtest.ErrWrongAction)
	check(t, "RDS Connect", rds("Connect", "rds-db"), user, 5432, k, now, iamtest.ErrWrongAction)
	check(t, "RDS service rds", rds("connect", "rds"), user, 5432, k, now, iamtest.ErrWrongScope)
	check(t, "RDS 1 h", presign(t, "127.0.0.1:5432", "rds-db", map[string]string{"Action": "connect", "DBUser": user, "X-Amz-Expires": "3600"}, k, now),
		user, 5432, k, now.Add(16*time.Minute), iamtest.ErrExpired) // RDS caps at 15 min
	dk := k
	dk.Mode = iamtest.DSQL
	check(t, "DSQL connect", dsqlToken(t, "127.0.0.1", "connect", k, now, 0), user, 0, dk, now, iamtest.ErrWrongAction)
	check(t, "DSQL service rds-db", presign(t, "127.0.0.1", "rds-db", map[string]string{"Action": "DbConnect", "X-Amz-Expires": "900"}, k, now),
		user, 0, dk, now, iamtest.ErrWrongScope)
}

// TestMalformed: junk is refused as ErrMalformed, never accepted.
func TestMalformed(t *testing.T) {
	t.Parallel()
	k := iamtest.NewKey(iamtest.AccessKey{})
	now := time.Now()
	good := rdsToken(t, "127.0.0.1:5432", "u", k)
	for name, tok := range map[string]string{
		"empty":       "",
		"password":    "hunter2",
		"scheme":      "https://" + good,
		"no query":    "127.0.0.1:5432",
		"huge":        good + "&pad=" + strings.Repeat("a", iamtest.MaxTokenSize),
		"repeated":    good + "&DBUser=u",
		"bad escape":  good + "&x=%zz",
		"no sig":      good[:strings.Index(good, "&X-Amz-Signature=")],
		"short sig":   good[:len(good)-2],
		"algorithm":   strings.Replace(good, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1),
		"headers":     strings.Replace(good, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=host%3Bx-amz-date", 1),
		"expires 0":   strings.Replace(good, "X-Amz-Expires=900", "X-Amz-Expires=0", 1),
		"expires big": strings.Replace(good, "X-Amz-Expires=900", "X-Amz-Expires=604801", 1),
		"credential":  strings.Replace(good, "%2Faws4_request", "%2Faws5_request", 1),
	} {
		check(t, name, tok, "u", 5432, k, now, iamtest.ErrMalformed)
	}
}
