package vault

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// answerKind is what a path's answer is.
type answerKind int

const (
	kindPlain   answerKind = iota // username and password, no lease (KV v1, …)
	kindDynamic                   // a lease: the database secrets engine's creds/
	kindStatic                    // a static role: last_vault_rotation
	kindKV2                       // KV v2: data.data and data.metadata.version
)

func (k answerKind) String() string {
	return [...]string{"plain", "dynamic", "static", "kv2"}[k]
}

// answer is what a read of the path returned.
type answer struct {
	answerKind answerKind
	username   string
	password   string
	host       string
	port       int
	dbname     string
	engine     string

	leaseID       string        // dynamic
	leaseDuration time.Duration // dynamic: as issued
	renewable     bool          // dynamic

	lastRotation string        // static: last_vault_rotation, as Vault wrote it
	ttl          time.Duration // static: time to the next rotation

	kvVersion int64 // kv2
}

// version names the answer's credential.
func (a *answer) version() string {
	switch a.answerKind {
	case kindDynamic:
		return a.leaseID
	case kindStatic:
		return "static:" + a.lastRotation
	case kindKV2:
		return "kv:" + strconv.FormatInt(a.kvVersion, 10)
	}
	h := sha256.Sum256([]byte(a.username + "\x00" + a.password + "\x00" + a.host + "\x00" + strconv.Itoa(a.port) + "\x00" + a.dbname))
	return "plain:" + hex.EncodeToString(h[:8])
}

// badAnswerReason is the cause of an ErrBadAnswer error.
type badAnswerReason string

func (e badAnswerReason) Error() string { return string(e) }

// parseAnswer tells what sec is, from its content (not the path).
func parseAnswer(sec *api.Secret) (*answer, error) {
	if sec == nil {
		return nil, badAnswerReason("an empty answer")
	}
	data := sec.Data
	a := &answer{answerKind: kindPlain}
	switch {
	case sec.LeaseID != "" && sec.LeaseDuration > 0:
		a.answerKind = kindDynamic
		a.leaseID = sec.LeaseID
		a.leaseDuration = time.Duration(sec.LeaseDuration) * time.Second
		a.renewable = sec.Renewable
	case data["last_vault_rotation"] != nil:
		a.answerKind = kindStatic
		a.lastRotation, _ = data["last_vault_rotation"].(string)
		if a.lastRotation == "" {
			return nil, badAnswerReason("a static role's answer without last_vault_rotation")
		}
		a.lastRotation = boundedText(a.lastRotation, 64)
		a.ttl = answerSeconds(data["ttl"])
	case isKV2(data):
		a.answerKind = kindKV2
		md := data["metadata"].(map[string]any)
		v, ok := answerInt(md["version"])
		if !ok || v <= 0 {
			return nil, badAnswerReason("a KV v2 answer without a version number")
		}
		a.kvVersion = v
		inner, _ := data["data"].(map[string]any)
		if inner == nil {
			return nil, badAnswerReason("KV v2 version " + strconv.FormatInt(v, 10) + " is deleted or destroyed")
		}
		data = inner
	}
	var ok bool
	if a.username, ok = data["username"].(string); !ok || a.username == "" {
		return nil, badAnswerReason("an answer without a username")
	}
	if a.password, ok = data["password"].(string); !ok || a.password == "" {
		return nil, badAnswerReason("an answer without a password")
	}
	if a.answerKind == kindKV2 || a.answerKind == kindPlain {
		if err := secretFields(a, data); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// isKV2 reports whether data is KV v2's envelope.
func isKV2(data map[string]any) bool {
	md, ok := data["metadata"].(map[string]any)
	if !ok {
		return false
	}
	_, hasVersion := md["version"]
	_, hasData := data["data"]
	return hasVersion && hasData
}

// secretFields reads the optional fields of a Secrets Manager style
// secret: host, port (a number or a string), dbname, engine.
func secretFields(a *answer, data map[string]any) error {
	str := func(k string) (string, error) {
		switch v := data[k].(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		}
		return "", badAnswerReason("the secret's " + k + " is not a string")
	}
	var err error
	if a.host, err = str("host"); err != nil {
		return err
	}
	if a.dbname, err = str("dbname"); err != nil {
		return err
	}
	if a.engine, err = str("engine"); err != nil {
		return err
	}
	switch v := data["port"].(type) {
	case nil:
	case string:
		if v != "" {
			p, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || p <= 0 || p > 65535 {
				return badAnswerReason("the secret's port is not a port number")
			}
			a.port = p
		}
	default:
		p, ok := answerInt(v)
		if !ok || p <= 0 || p > 65535 {
			return badAnswerReason("the secret's port is not a port number")
		}
		a.port = int(p)
	}
	return nil
}

// answerInt is v as an integer: the client decodes numbers as json.Number.
func answerInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return 0, false
			}
			return int64(f), true
		}
		return i, true
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

// answerSeconds is a number of seconds as a duration (0 if it is not one).
func answerSeconds(v any) time.Duration {
	n, ok := answerInt(v)
	if !ok || n < 0 || n > math.MaxInt64/int64(time.Second) {
		return 0
	}
	return time.Duration(n) * time.Second
}
