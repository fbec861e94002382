package cli

import (
	"database/sql/driver"
	"errors"
	"net/url"
	"strings"

	"github.com/secretsql/secretsql/credential"
	"github.com/secretsql/secretsql/engine"
)

// probeName is the name of check's own engine, registered through the
// public engine SPI. It is no engine a user can choose: engineNames and
// engineFor leave it out, and check refuses it for --engine.
const probeName = "secretsql-check-probe"

// probeEngine reads secrets for check without connecting anywhere: it
// accepts every secret engine, and its Prepare keeps no driver parameter
// (the real engine checks them). check reads the secret with a Connector of
// this engine before it knows the secret's engine; that read is secretsql's
// own, through the shared cache, whose entries do not depend on the engine,
// so the real engine's Connector then finds the secret cached and reads
// nothing.
type probeEngine struct{}

func init() { engine.Register(probeEngine{}) }

// errProbeConnect: a probe's Connector was asked for a login, which check
// never does.
var errProbeConnect = errors.New("secretsql check: the probe engine connects nowhere")

// Name is probeName.
func (probeEngine) Name() string { return probeName }

// Defaults are none: a probe's credentials are never used for a login.
func (probeEngine) Defaults() (int, string) { return 0, "" }

// AcceptsSecretEngine accepts every secret: check tells the engine from it.
func (probeEngine) AcceptsSecretEngine(string) bool { return true }

// IsAuthError is false: a probe never logs in.
func (probeEngine) IsAuthError(error) bool { return false }

// Prepare ignores the driver parameters: the real engine checks them.
func (probeEngine) Prepare(url.Values) (engine.Prepared, error) { return probePrepared{}, nil }

// probePrepared refuses every login.
type probePrepared struct{}

// Connector refuses: a probe connects nowhere.
func (probePrepared) Connector(credential.Credential) (driver.Connector, error) {
	return nil, errProbeConnect
}

// isProbe reports whether name is the probe engine's.
func isProbe(name string) bool { return strings.EqualFold(name, probeName) }
