package secretsql

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Fuzz targets of the root package. `make test` runs each for a few seconds;
// docs/TESTING.md says how to run them longer. Seeds come from the tables of
// dsn_test.go and secret_test.go (f.Add) and from testdata/fuzz/<Target>/.

// dsnSeeds are DSNs from TestParseDSN and TestParseDSNErrors, and a few more
// with odd query syntax.
var dsnSeeds = []string{
	"prod/app",
	"iam://app@mydb.abc123.eu-west-1.rds.amazonaws.com:5432/app?sslmode=verify-full",
	"iam://u@127.0.0.1:3306/db?region=us-east-1&allow_plaintext=true&tls=false",
	"iam://u@[::1]:5432?region=us-east-1",
	"dsql://admin@abcdefghijklmnopqrst.dsql.us-east-1.on.aws/postgres?token_lifetime=5m",
	"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app-AbCdEf",
	"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app",
	"arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x",
	"arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/app-AbCdEf?region=eu-west-1&sslmode=require",
	"db?host=10.0.0.1&port=6543&dbname=a%20b&stage=AWSPREVIOUS&ttl=90s&endpoint=http://127.0.0.1:4566&tls=true",
	"db?host=[::1]",
	"a.b+c=d@e_f-g",
	"",
	"?region=us-east-1",
	"name with space",
	"arn:aws:s3:::bucket",
	"arn:aws:secretsmanager:us-east-1:123456789012:parameter/x",
	"arn:aws:secretsmanager::123456789012:secret:x",
	"db?region=US_EAST",
	"db?region=",
	"db?region=us-east-1&region=us-west-2",
	"arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf?region=us-east-1",
	"db?endpoint=ftp://x",
	"db?endpoint=localhost:4566",
	"db?port=0", "db?port=70000", "db?port=abc", "db?port=+5432", "db?port=05432",
	"db?host=a/b",
	"db?ttl=10", "db?ttl=-1m", "db?ttl=500ms", "db?ttl=9223372036s",
	"db?stage=has%20space",
	"db?Region=us-east-1",
	"db?a=%zz",
	"db?;=x", "db?&&&", "db?=v", "db??x", "  db  ?dbname=%00",
	"db?user=u&password=p&sslmode=verify-full",
	"file:/mnt/secrets-store/app?dbname=x", "file:///a/../b c/?sslmode=disable", "file:relative", "file:/x?region=us-east-1",
	"db?source=agent&agent=localhost:2773", "db?failover_region=us-west-2&region=us-east-1", "db?host=[fe80::1%25eth0]",
	"db?sslMode=require&opt=a&opt=b", "db?region=useast1", "db?failover_region=a-",
}

// FuzzParseDSN: parseDSN never panics; what it rejects is a *DSNError
// matching only ErrInvalidDSN. What it accepts is checked against the DSN
// format itself, not against the validators parseDSN calls: the secret id
// is a name, a secret ARN (whose region agrees with region=) or an absolute
// file: path; values are in range; every key that is not secretsql's
// reaches the driver unchanged and none of secretsql's does; and the DSN
// written back from the parsed values (formatDSN) parses to the same.
func FuzzParseDSN(f *testing.F) {
	for _, s := range dsnSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		d, err := parseDSN(dsn)
		if err != nil {
			var de *DSNError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalidDSN) || errors.Is(err, ErrInvalidOption) {
				t.Fatalf("parseDSN(%q) = %v (%T): want a *DSNError matching only ErrInvalidDSN", dsn, err, err)
			}
			if de.Reason == "" {
				t.Fatalf("parseDSN(%q): DSNError without a reason: %v", dsn, err)
			}
			return
		}
		id, query, _ := strings.Cut(strings.TrimSpace(dsn), "?")
		if d.secretID != id {
			t.Fatalf("parseDSN(%q): secret id %q, want %q", dsn, d.secretID, id)
		}
		switch {
		case d.token != nil:
			t0 := d.token
			if lid := strings.ToLower(id); !strings.HasPrefix(lid, "iam://") && !strings.HasPrefix(lid, "dsql://") {
				t.Fatalf("parseDSN(%q): a token target for id %q", dsn, id)
			}
			if t0.user == "" || !validHost(t0.host) || t0.port < 1 || t0.port > 65535 || d.host != t0.host || d.port != t0.port {
				t.Fatalf("parseDSN(%q): token target %+v, host %q port %d", dsn, *t0, d.host, d.port)
			}
			if r := hostRegion(t0.host); r != "" && d.region != r {
				t.Fatalf("parseDSN(%q): region %q, but the endpoint's is %q", dsn, d.region, r)
			}
		case strings.HasPrefix(id, "file:"):
			if !strings.HasPrefix(d.file, "/") || strings.ContainsRune(d.file, 0) || filepath.Clean(d.file) != d.file {
				t.Fatalf("parseDSN(%q) accepted file %q: want a clean absolute path", dsn, d.file)
			}
		case d.file != "":
			t.Fatalf("parseDSN(%q): file %q for a secret id without file:", dsn, d.file)
		case len(id) > maxSecretIDLen:
			t.Fatalf("parseDSN(%q) accepted a secret id of %d bytes", dsn, len(id))
		case strings.HasPrefix(id, "arn:"):
			m := secretARNPattern.FindStringSubmatch(id)
			if m == nil || !isRegion(m[1]) {
				t.Fatalf("parseDSN(%q) accepted secret id %q, which is not a secret ARN", dsn, id)
			}
			if d.region != "" && d.region != m[1] {
				t.Fatalf("parseDSN(%q): region %q, but the ARN's is %q", dsn, d.region, m[1])
			}
		case !secretNamePattern.MatchString(id):
			t.Fatalf("parseDSN(%q) accepted secret id %q, which is not a secret name", dsn, id)
		}
		if d.port != 0 && (d.port < 1 || d.port > 65535) {
			t.Fatalf("parseDSN(%q): port %d", dsn, d.port)
		}
		if d.ttl != 0 && d.ttl < defaultMinRefreshInterval {
			t.Fatalf("parseDSN(%q): ttl %v", dsn, d.ttl)
		}
		for _, r := range []string{d.region, d.failoverRegion} {
			if r != "" && !isRegion(r) {
				t.Fatalf("parseDSN(%q): region %q", dsn, r)
			}
		}
		if d.hasDB != (d.dbname != "") {
			t.Fatalf("parseDSN(%q): dbname %q, hasDB %v", dsn, d.dbname, d.hasDB)
		}
		vals, err := url.ParseQuery(query)
		if err != nil {
			t.Fatalf("parseDSN(%q) accepted a query that url.ParseQuery rejects: %v", dsn, err)
		}
		for k, vs := range vals {
			if got := d.params[k]; !ourKeys[k] && !slices.Equal(got, vs) {
				t.Fatalf("parseDSN(%q) passes %q=%q to the driver, want %q", dsn, k, got, vs)
			}
		}
		for k := range d.params {
			if ourKeys[strings.ToLower(k)] {
				t.Fatalf("parseDSN(%q) passes secretsql's key %q to the driver", dsn, k)
			}
			if _, ok := vals[k]; !ok {
				t.Fatalf("parseDSN(%q) passes key %q, which is not in the DSN, to the driver", dsn, k)
			}
		}
		again := formatDSN(d)
		d2, err := parseDSN(again)
		if err != nil {
			t.Fatalf("parseDSN(%q) accepted, but its formatDSN %q is rejected: %v", dsn, again, err)
		}
		if !reflect.DeepEqual(d, d2) {
			t.Fatalf("parseDSN(%q) = %+v\nbut its formatDSN %q parses to %+v", dsn, d, again, d2)
		}
	})
}

// Patterns of the secret ids and regions the DSN format allows, written
// from the format (secret names: letters, digits and /_+=.@-!; ARNs:
// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME; regions: 4 to 32
// lower-case letters, digits and dashes, with a dash, neither first nor
// last), independently of dsn.go's validators.
var (
	secretNamePattern = regexp.MustCompile(`^[A-Za-z0-9/_+=.@!-]+$`)
	secretARNPattern  = regexp.MustCompile(`^arn:aws(?:[a-z-]*[a-z])?:secretsmanager:([^:]*):[0-9]+:secret:[A-Za-z0-9/_+=.@!-]+$`)
	regionPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*-[a-z0-9-]*[a-z0-9]$`)
)

func isRegion(s string) bool { return len(s) >= 4 && len(s) <= 32 && regionPattern.MatchString(s) }

// formatDSN writes d back as a DSN: the secret id, then every value
// secretsql read as a key, then the driver's parameters.
func formatDSN(d dsnConfig) string {
	q := url.Values{}
	for k, vs := range d.params {
		q[k] = vs
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("region", d.region)
	set("endpoint", d.endpoint)
	set("host", d.host)
	if d.port != 0 {
		set("port", strconv.Itoa(d.port))
	}
	if d.hasDB {
		set("dbname", d.dbname)
	}
	set("stage", d.stage)
	if d.ttl != 0 {
		set("ttl", d.ttl.String())
	}
	set("source", d.source)
	set("agent", d.agent)
	set("failover_region", d.failoverRegion)
	if t := d.token; t != nil {
		if t.lifetime != 0 {
			set("token_lifetime", t.lifetime.String())
		}
		if t.allowPlaintext {
			set("allow_plaintext", "true")
		}
	}
	return d.secretID + "?" + q.Encode()
}

// secretSeeds are the secret values of TestParseSecret, good and bad.
var secretSeeds = []string{
	`{"engine":"postgres","host":"h","port":5433,"username":"u","password":"p","dbname":"d"}`,
	`{"engine":"Aurora-PostgreSQL","host":" h ","port":"5433","username":"u","password":"p"}`,
	`{"username":"u","password":"p"}`,
	`{"username":"u","password":"p","port":null,"masterarn":"arn:x","dbClusterIdentifier":1}`,
	` {"username":"u","password":"p\"\\\u00e9"} `,
	``,
	`not json`,
	`["x"]`,
	`{"password":"x",}`,
	`{"password":x}`,
	`{"password":5,"username":"u"}`,
	`{"password":"x","username":["u"]}`,
	`{"password":"x","port":"54x"}`,
	`{"password":"x","port":70000}`,
	`{"password":"x","port":5432.5}`,
	`{"password":"x","port":1e3}`,
	`{"password":"x","port":""}`,
	`{"password":"x","host":{"a":1}}`,
	`{"engine":"mysql","host":"h","username":"u","password":"p"}`,
	`{"engine":null,"host":"h","username":"u","password":"p"}`,
	"\u0085{\"username\":\"u\",\"password\":\"p\",\"host\":\"h\"}",
	`{"username":"u","password":"p","host":"h","username":"v"}`,
	"{\"username\":\"\xff\",\"password\":\"p\",\"host\":\"h\"}",
}

// FuzzParseSecret: parseSecret and resolve never panic; their errors are
// *SecretError matching one of the secret sentinels, and what resolve accepts
// is complete.
func FuzzParseSecret(f *testing.F) {
	for _, s := range secretSeeds {
		f.Add([]byte(s), "", "")
		f.Add([]byte(s), "override.example", "appdb")
	}
	e := testEngine{name: "pgtest"}
	f.Fuzz(func(t *testing.T, raw []byte, host, dbname string) {
		const arn, ver = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fuzz-AbCdEf", "v-fuzz"
		s, err := parseSecret(raw, arn, ver)
		if err != nil {
			checkSecretError(t, err, arn, ver, ErrMalformedSecret, ErrMissingKey)
			return
		}
		if s.engine != strings.ToLower(strings.TrimSpace(s.engine)) || s.host != strings.TrimSpace(s.host) {
			t.Fatalf("parseSecret(%q): engine %q / host %q not normalized", raw, s.engine, s.host)
		}
		if s.port < 0 || s.port > 65535 {
			t.Fatalf("parseSecret(%q): port %d", raw, s.port)
		}
		d := dsnConfig{host: host, dbname: dbname, hasDB: dbname != ""}
		c, err := resolve(s.credential(), e, &d, arn, ver, true)
		if err != nil {
			checkSecretError(t, err, arn, ver, ErrMissingKey, ErrEngineMismatch, ErrMalformedSecret)
			return
		}
		if c.Username == "" || c.Password() == "" || c.Host == "" || c.Port < 1 || c.Port > 65535 || c.Database == "" {
			t.Fatalf("resolve(%q) accepted incomplete credentials %v", raw, c)
		}
		if c.Password() != s.password || c.Username != s.username {
			t.Fatalf("resolve(%q) changed the user or password", raw)
		}
		if host != "" && c.Host != host || dbname != "" && c.Database != dbname {
			t.Fatalf("resolve(%q) ignored the DSN overrides: %v", raw, c)
		}
	})
}

// FuzzSecretErrorRedaction: whatever surrounds it, a password of at least 8
// random letters never appears in the text of an error of parseSecret or
// resolve, nor in its %v/%+v/%#v/%s forms. The fragments are raw JSON text
// (often malformed); the password is quoted as a JSON string, or left bare,
// which is a syntax error right at the password.
func FuzzSecretErrorRedaction(f *testing.F) {
	f.Add(`{`, `"postgres"`, `"h"`, `5432`, `"u"`, `}`, []byte("seedpassword"), true)
	f.Add(`{`, `"mysql"`, `"h"`, `5432`, `"u"`, `}`, []byte("x"), true)
	f.Add(`{`, `"postgres"`, `"h"`, `"54x`, `"u"`, `}`, []byte("abc"), false)
	f.Add(`[`, `1`, `null`, `true`, `{}`, `]`, []byte("zzzzzzzzzzzz"), true)
	f.Add(`{`, `"postgres"`, `"h"`, `5432`, `5`, `,}`, []byte{0, 1, 2, 3}, false)
	f.Add(`{"password":"x",`, `"Postgres "`, `""`, `null`, `""`, `}`, []byte("q"), true)
	e := testEngine{name: "pgtest"}
	f.Fuzz(func(t *testing.T, prefix, engine, host, port, user, suffix string, seed []byte, quoted bool) {
		pw := lettersFrom(seed)
		for _, frag := range []string{prefix, engine, host, port, user, suffix} {
			if strings.Contains(strings.ToLower(frag), strings.ToLower(pw)) {
				return // the password would be somewhere else than under "password"
			}
		}
		val := pw
		if quoted {
			val = `"` + pw + `"`
		}
		raw := prefix + `"engine":` + engine + `,"host":` + host + `,"port":` + port +
			`,"username":` + user + `,"password":` + val + suffix
		const arn, ver = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fuzz-AbCdEf", "v-fuzz"
		s, err := parseSecret([]byte(raw), arn, ver)
		if err == nil {
			_, err = resolve(s.credential(), e, &dsnConfig{}, arn, ver, true)
		}
		if err == nil {
			return
		}
		checkSecretError(t, err, arn, ver, ErrMalformedSecret, ErrMissingKey, ErrEngineMismatch)
		for _, text := range formsOf(err) {
			if containsSecret(text, pw) {
				t.Fatalf("secret %q: error reveals the password: %s", raw, text)
			}
		}
	})
}

// lettersFrom maps seed to a password of at least 8 ASCII letters.
func lettersFrom(seed []byte) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 0, max(len(seed), 8))
	for i := 0; i < len(seed) || len(b) < 8; i++ {
		x := byte(i*31 + 7)
		if i < len(seed) {
			x = seed[i]
		}
		b = append(b, letters[int(x)%len(letters)])
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

func checkSecretError(t *testing.T, err error, arn, ver string, kinds ...error) {
	t.Helper()
	var se *SecretError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *SecretError", err, err)
	}
	n := 0
	for _, k := range kinds {
		if errors.Is(err, k) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v matches %d of the sentinels %v, want exactly 1", err, n, kinds)
	}
	if se.SecretARN != arn || se.VersionID != ver || se.Reason == "" {
		t.Fatalf("error %v does not name the secret, version and reason", err)
	}
}

// formsOf is what fmt and Error make of v.
func formsOf(v any) []string {
	out := []string{
		fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprintf("%s", v), fmt.Sprintf("%q", v),
	}
	if err, ok := v.(error); ok {
		out = append(out, err.Error())
		for _, u := range unwrapAll(err) {
			out = append(out, u.Error(), fmt.Sprintf("%+v", u), fmt.Sprintf("%#v", u))
		}
	}
	return out
}

func unwrapAll(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if w := u.Unwrap(); w != nil {
				out = append(out, w)
				walk(w)
			}
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				if w != nil {
					out = append(out, w)
					walk(w)
				}
			}
		}
	}
	walk(err)
	return out
}

// containsSecret reports whether s holds pw as is, URL-encoded or
// query-escaped.
func containsSecret(s, pw string) bool {
	return strings.Contains(s, pw) || strings.Contains(s, url.QueryEscape(pw)) || strings.Contains(s, url.PathEscape(pw))
}
