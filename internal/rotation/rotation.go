// Package rotation rotates a database secret in AWS Secrets Manager (or in
// the smtest emulator) against a real database, step by step, the way AWS's
// rotation Lambda functions for RDS (SecretsManagerRDSPostgreSQLRotation*,
// SecretsManagerRDSMySQLRotation*) do it:
//
//  1. createSecret: read AWSCURRENT, generate a new password and store the new
//     version with PutSecretValue, staged AWSPENDING;
//  2. setSecret: change the password in the database (single user), or
//     create/update the other user of the pair "<name>" / "<name>_clone"
//     with admin rights read from the masterarn secret (alternating users);
//  3. testSecret: log in with the AWSPENDING credentials;
//  4. finishSecret: move AWSCURRENT to the new version (AWSPREVIOUS follows)
//     and take AWSPENDING off it.
//
// Between setSecret and finishSecret the database already has the new
// credentials while AWSCURRENT still returns the old ones: a [Rotator.Hook]
// lets a test hold that window open.
//
// Each step is idempotent, as in the Lambda templates, and can be run on its
// own with [Rotator.RunStep] (the Lambda's event: secret, token, step).
// [Rotator.Rotate] needs no RotateSecret call: createSecret creates the
// AWSPENDING version. [Rotator.RotateVersion] continues a rotation that
// RotateSecret started, whose empty AWSPENDING version createSecret fills,
// as the smtest emulator's RotateSecret does. Rotation schedules are not
// this package's business.
//
// How the database is changed depends on what the [Database] implements: a
// [SelfPasswordChanger] changes a single user's password as that user,
// logged in with the credentials that still work (AWSCURRENT, else
// AWSPREVIOUS), and an [AdminCloner] creates or updates the "_clone" user
// as the admin secret's user, as AWS's templates do (at the host, port and
// database the admin secret names, if the Database is a [Locator]);
// otherwise a [PasswordSetter] and a [Cloner] act with the Database's own
// admin rights.
package rotation

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"
)

// Step is one of the four rotation steps; its value is the name AWS passes to
// rotation functions.
type Step string

// The rotation steps, in the order they run.
const (
	CreateSecret Step = "createSecret"
	SetSecret    Step = "setSecret"
	TestSecret   Step = "testSecret"
	FinishSecret Step = "finishSecret"
)

// Steps returns the four steps in order.
func Steps() []Step { return []Step{CreateSecret, SetSecret, TestSecret, FinishSecret} }

// Staging labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// CloneSuffix is appended to a user name to form the other user of an
// alternating-users pair.
const CloneSuffix = "_clone"

// Strategy is how a rotation changes the credentials.
type Strategy int

const (
	// SingleUser changes the password of the secret's user.
	SingleUser Strategy = iota
	// AlternatingUsers switches between the users "<name>" and
	// "<name>_clone", giving the one that is not current a new password; the
	// secret's "masterarn" key names the admin secret used to do it.
	AlternatingUsers
)

// Strategies returns both strategies, for table-driven tests.
func Strategies() []Strategy { return []Strategy{SingleUser, AlternatingUsers} }

// String returns "single user" or "alternating users".
func (s Strategy) String() string {
	switch s {
	case SingleUser:
		return "single user"
	case AlternatingUsers:
		return "alternating users"
	}
	return fmt.Sprintf("Strategy(%d)", int(s))
}

// Database is the database the secret points at, whose credentials a
// rotation changes. It must also be a [SelfPasswordChanger] or a
// [PasswordSetter] for SingleUser, and an [AdminCloner] or a [Cloner] for
// AlternatingUsers.
type Database interface {
	// Login opens one connection as user with password and checks it works;
	// it returns the driver's error when the login is refused.
	Login(ctx context.Context, user, password string) error
}

// PasswordSetter is implemented by a [Database] that sets passwords with
// admin rights of its own; the SingleUser strategy uses it when the
// Database is no [SelfPasswordChanger].
type PasswordSetter interface {
	// SetPassword sets the password of user.
	SetPassword(ctx context.Context, user, password string) error
}

// Cloner is implemented by a [Database] that can create users; the
// AlternatingUsers strategy requires it.
type Cloner interface {
	// CloneUser makes sure the user to exists with the privileges of the user
	// from and with password: it creates to if missing (as the Lambda does,
	// granting it what from has) and otherwise only sets its password.
	CloneUser(ctx context.Context, from, to, password string) error
}

// SecretsManager is the part of the Secrets Manager API a rotation uses;
// *secretsmanager.Client implements it.
type SecretsManager interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	UpdateSecretVersionStage(context.Context, *secretsmanager.UpdateSecretVersionStageInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

var _ SecretsManager = (*secretsmanager.Client)(nil)

// SelfPasswordChanger is implemented by a [Database] that changes a user's
// password the way AWS's single-user rotation functions do: logged in as
// that user with a password that works, the user changes its own password.
// The SingleUser strategy prefers it to [PasswordSetter].
type SelfPasswordChanger interface {
	// ChangeOwnPassword logs in as user with oldPassword and sets the
	// user's password to newPassword.
	ChangeOwnPassword(ctx context.Context, user, oldPassword, newPassword string) error
}

// AdminCloner is implemented by a [Database] that creates the other user of
// an alternating-users pair with the admin secret's credentials, as AWS's
// alternating-users rotation functions do. The AlternatingUsers strategy
// prefers it to [Cloner].
type AdminCloner interface {
	// CloneUserAs logs in as adminUser with adminPassword and makes sure
	// the user to exists with the privileges of the user from and with
	// password (see [Cloner.CloneUser]).
	CloneUserAs(ctx context.Context, adminUser, adminPassword, from, to, password string) error
}

// Locator is implemented by a [Database] that can reach the database
// another secret points at. The AlternatingUsers strategy uses it for the
// admin secret (masterarn): the admin's credentials go to the host, port
// and database the admin secret itself names, as AWS's rotation functions
// connect with the admin secret's own connection keys, never to those of
// the secret being rotated. Without it, the admin logs in at the Database.
type Locator interface {
	// Locate returns the Database that a secret, given by its
	// SecretString, points at.
	Locate(secretString string) (Database, error)
}

// Rotator rotates database secrets. Its fields are read-only once it is in
// use; a Rotator may run several rotations concurrently (of different
// secrets).
type Rotator struct {
	// Client talks to Secrets Manager. Required.
	Client SecretsManager
	// DB is the database the secrets belong to. Required; see [Database]
	// for what else it must implement for each strategy.
	DB Database
	// Strategy is SingleUser (the zero value) or AlternatingUsers.
	Strategy Strategy
	// Hook, if set, is called by [Rotator.Rotate] and [Rotator.RotateVersion]
	// before each step, with the step about to run. It may block (to hold a
	// window open: before FinishSecret the database already has the new
	// credentials and AWSCURRENT still has the old ones); an error stops the
	// rotation, leaving it as AWS would leave a failed one.
	Hook func(ctx context.Context, next Step) error
	// NewPassword generates the new password; nil means [GeneratePassword].
	NewPassword func() (string, error)
	// Logf, if set, receives one line per step (never a password).
	Logf func(format string, args ...any)
}

// StepTiming is how long one step took.
type StepTiming struct {
	Step     Step
	Duration time.Duration
}

// Result describes a completed rotation.
type Result struct {
	// VersionID is the new version: the ClientRequestToken of the rotation,
	// now staged AWSCURRENT.
	VersionID string
	// PreviousVersionID is the version that was AWSCURRENT before, now
	// AWSPREVIOUS.
	PreviousVersionID string
	// Username is the user of the new version; PreviousUsername the user of
	// the previous one. They differ with AlternatingUsers.
	Username         string
	PreviousUsername string
	// Timings holds the duration of each step, in order (hook time excluded).
	Timings []StepTiming
}

// Rotate runs a whole rotation of the secret (name or ARN) with a fresh
// ClientRequestToken, calling Hook before each step. On error the result
// holds what was done so far, and the error names the failed step.
func (r *Rotator) Rotate(ctx context.Context, secretID string) (*Result, error) {
	return r.RotateVersion(ctx, secretID, uuid.NewString())
}

// RotateVersion is like Rotate with the ClientRequestToken token: the ID of
// the new version, which may already exist staged AWSPENDING (made empty by
// RotateSecret, or left by an earlier attempt of the same rotation, which
// this one then finishes).
func (r *Rotator) RotateVersion(ctx context.Context, secretID, token string) (*Result, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	res := &Result{VersionID: token}
	for _, step := range Steps() {
		if r.Hook != nil {
			if err := r.Hook(ctx, step); err != nil {
				return res, fmt.Errorf("rotation: hook before %s: %w", step, err)
			}
		}
		start := time.Now()
		info, err := r.runStep(ctx, secretID, res.VersionID, step)
		res.Timings = append(res.Timings, StepTiming{Step: step, Duration: time.Since(start)})
		if err != nil {
			return res, err
		}
		switch step {
		case CreateSecret:
			res.Username, res.PreviousUsername = info.pendingUser, info.currentUser
		case FinishSecret:
			res.PreviousVersionID = info.previousVersion
		}
	}
	return res, nil
}

// RunStep runs one step for the version token of the secret, as a rotation
// Lambda does for the event {SecretId, ClientRequestToken, Step}. Like the
// Lambda it first checks that token is a version of the secret staged
// AWSPENDING (for createSecret, it may not exist yet); a version that is
// already AWSCURRENT makes every step but finishSecret a no-op.
func (r *Rotator) RunStep(ctx context.Context, secretID, token string, step Step) error {
	if err := r.check(); err != nil {
		return err
	}
	_, err := r.runStep(ctx, secretID, token, step)
	return err
}

func (r *Rotator) check() error {
	switch {
	case r.Client == nil:
		return errors.New("rotation: Rotator.Client is nil")
	case r.DB == nil:
		return errors.New("rotation: Rotator.DB is nil")
	case r.Strategy != SingleUser && r.Strategy != AlternatingUsers:
		return fmt.Errorf("rotation: unknown strategy %v", r.Strategy)
	}
	_, setter := r.DB.(PasswordSetter)
	_, selfChanger := r.DB.(SelfPasswordChanger)
	_, cloner := r.DB.(Cloner)
	_, adminCloner := r.DB.(AdminCloner)
	switch {
	case r.Strategy == SingleUser && !setter && !selfChanger:
		return fmt.Errorf("rotation: %T cannot change passwords (no SetPassword or ChangeOwnPassword method), needed for a single user", r.DB)
	case r.Strategy == AlternatingUsers && !cloner && !adminCloner:
		return fmt.Errorf("rotation: %T cannot create users (no CloneUser or CloneUserAs method), needed for alternating users", r.DB)
	}
	return nil
}

// stepInfo is what a step learnt that Rotate reports.
type stepInfo struct {
	currentUser, pendingUser string
	previousVersion          string
}

func (r *Rotator) runStep(ctx context.Context, secretID, token string, step Step) (stepInfo, error) {
	var info stepInfo
	if token == "" {
		return info, fmt.Errorf("rotation: %s: empty ClientRequestToken", step)
	}
	if !slices.Contains(Steps(), step) {
		return info, fmt.Errorf("rotation: unknown step %q", step)
	}
	done, err := r.checkVersion(ctx, secretID, token, step)
	if err == nil && !done {
		switch step {
		case CreateSecret:
			info, err = r.createSecret(ctx, secretID, token)
		case SetSecret:
			err = r.setSecret(ctx, secretID, token)
		case TestSecret:
			err = r.testSecret(ctx, secretID, token)
		case FinishSecret:
			info, err = r.finishSecret(ctx, secretID, token)
		}
	}
	if err != nil {
		return info, fmt.Errorf("rotation: %s of %s: %w", step, secretID, err)
	}
	r.logf("rotation: %s of %s (version %s) done", step, secretID, token)
	return info, nil
}

func (r *Rotator) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

// checkVersion is the Lambda handler's preamble: the token must be a version
// of the secret staged AWSPENDING (for createSecret it may also not exist
// yet: AWS's RotateSecret would have created it empty). If the version is
// already AWSCURRENT, the steps before finishSecret have nothing to do (done
// is true); finishSecret still runs, to take AWSPENDING off it.
func (r *Rotator) checkVersion(ctx context.Context, secretID, token string, step Step) (done bool, err error) {
	versions, err := r.versions(ctx, secretID)
	if err != nil {
		return false, err
	}
	stages, ok := versions[token]
	switch {
	case !ok && step == CreateSecret:
		return false, nil
	case !ok:
		return false, fmt.Errorf("version %s has no stage for rotation", token)
	case slices.Contains(stages, StageCurrent):
		r.logf("rotation: version %s of %s is already %s", token, secretID, StageCurrent)
		return step != FinishSecret, nil
	case !slices.Contains(stages, StagePending):
		return false, fmt.Errorf("version %s is not staged %s", token, StagePending)
	}
	return false, nil
}

// createSecret stores a new version staged AWSPENDING, unless the token's
// version already exists.
func (r *Rotator) createSecret(ctx context.Context, secretID, token string) (stepInfo, error) {
	var info stepInfo
	current, _, err := r.getSecret(ctx, secretID, StageCurrent, "")
	if err != nil {
		return info, err
	}
	if info.currentUser, err = current.str("username"); err != nil {
		return info, err
	}
	pending, _, err := r.getSecret(ctx, secretID, StagePending, token)
	if err == nil {
		// Already created by an earlier run with this token.
		info.pendingUser, err = pending.str("username")
		return info, err
	}
	if !isNotFound(err) {
		return info, err
	}
	pending = current.clone()
	info.pendingUser = info.currentUser
	if r.Strategy == AlternatingUsers {
		info.pendingUser = AltUsername(info.currentUser)
		pending.set("username", info.pendingUser)
	}
	newPassword := r.NewPassword
	if newPassword == nil {
		newPassword = GeneratePassword
	}
	password, err := newPassword()
	if err != nil {
		return info, fmt.Errorf("new password: %w", err)
	}
	pending.set("password", password)
	value, err := json.Marshal(pending)
	if err != nil {
		return info, err
	}
	_, err = r.Client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(secretID),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(string(value)),
		VersionStages:      []string{StagePending},
	})
	return info, err
}

// setSecret puts the AWSPENDING credentials into the database.
func (r *Rotator) setSecret(ctx context.Context, secretID, token string) error {
	pending, _, err := r.getSecret(ctx, secretID, StagePending, token)
	if err != nil {
		return err
	}
	pUser, pPass, err := pending.credentials()
	if err != nil {
		return fmt.Errorf("%s version: %w", StagePending, err)
	}
	// If the pending credentials already work, an earlier run set them.
	if r.DB.Login(ctx, pUser, pPass) == nil {
		r.logf("rotation: %s credentials of %s already work", StagePending, secretID)
		return nil
	}
	current, _, err := r.getSecret(ctx, secretID, StageCurrent, "")
	if err != nil {
		return err
	}
	cUser, cPass, err := current.credentials()
	if err != nil {
		return fmt.Errorf("%s version: %w", StageCurrent, err)
	}
	if ch, ph := current.optStr("host"), pending.optStr("host"); ch != ph {
		return fmt.Errorf("host %q of %s differs from host %q of %s", ph, StagePending, ch, StageCurrent)
	}

	if r.Strategy == SingleUser {
		if pUser != cUser {
			return fmt.Errorf("user %q of %s differs from user %q of %s", pUser, StagePending, cUser, StageCurrent)
		}
		// Make sure the secret's credentials are valid before changing them:
		// AWSCURRENT, or else AWSPREVIOUS (a rotation that failed after
		// setSecret).
		working := cPass
		if err := r.DB.Login(ctx, cUser, cPass); err != nil {
			previous, _, perr := r.getSecret(ctx, secretID, StagePrevious, "")
			if perr != nil {
				return fmt.Errorf("cannot log in with %s credentials: %w", StageCurrent, err)
			}
			prevUser, prevPass, perr := previous.credentials()
			if perr != nil || prevUser != cUser || r.DB.Login(ctx, prevUser, prevPass) != nil {
				return fmt.Errorf("cannot log in with %s or %s credentials: %w", StageCurrent, StagePrevious, err)
			}
			working = prevPass
		}
		if sc, ok := r.DB.(SelfPasswordChanger); ok {
			return sc.ChangeOwnPassword(ctx, pUser, working, pPass)
		}
		return r.DB.(PasswordSetter).SetPassword(ctx, pUser, pPass)
	}

	// Alternating users.
	if want := AltUsername(cUser); pUser != want {
		return fmt.Errorf("user %q of %s is not %q, the other user of %s's %q", pUser, StagePending, want, StageCurrent, cUser)
	}
	if err := r.DB.Login(ctx, cUser, cPass); err != nil {
		return fmt.Errorf("cannot log in with %s credentials: %w", StageCurrent, err)
	}
	masterARN, err := current.str("masterarn")
	if err != nil {
		return fmt.Errorf("alternating users needs the admin secret: %w", err)
	}
	master, _, err := r.getSecret(ctx, masterARN, StageCurrent, "")
	if err != nil {
		return fmt.Errorf("admin secret: %w", err)
	}
	mUser, mPass, err := master.credentials()
	if err != nil {
		return fmt.Errorf("admin secret %s: %w", masterARN, err)
	}
	if mh := master.optStr("host"); mh != current.optStr("host") {
		return fmt.Errorf("admin secret host %q is not the host %q of the secret", mh, current.optStr("host"))
	}
	// The Lambda connects where the admin secret points (its host, port
	// and database), with its credentials, and runs the CREATE or ALTER
	// there, as an AdminCloner does (its login is the check of the admin
	// secret's credentials); a plain Cloner does the change with its own
	// admin connection, after a check that they do work.
	admin := r.DB
	if loc, ok := r.DB.(Locator); ok {
		raw, err := json.Marshal(master)
		if err == nil {
			admin, err = loc.Locate(string(raw))
		}
		if err != nil {
			return fmt.Errorf("admin secret %s: %w", masterARN, err)
		}
	}
	if ac, ok := admin.(AdminCloner); ok {
		if err := ac.CloneUserAs(ctx, mUser, mPass, cUser, pUser, pPass); err != nil {
			return fmt.Errorf("as the admin secret's user: %w", err)
		}
		return nil
	}
	cl, ok := r.DB.(Cloner)
	if !ok {
		return fmt.Errorf("%T, where the admin secret points, cannot create users (no CloneUserAs method)", admin)
	}
	if err := admin.Login(ctx, mUser, mPass); err != nil {
		return fmt.Errorf("cannot log in with the admin secret's credentials: %w", err)
	}
	return cl.CloneUser(ctx, cUser, pUser, pPass)
}

// testSecret logs in with the AWSPENDING credentials.
func (r *Rotator) testSecret(ctx context.Context, secretID, token string) error {
	pending, _, err := r.getSecret(ctx, secretID, StagePending, token)
	if err != nil {
		return err
	}
	user, password, err := pending.credentials()
	if err != nil {
		return fmt.Errorf("%s version: %w", StagePending, err)
	}
	if err := r.DB.Login(ctx, user, password); err != nil {
		return fmt.Errorf("cannot log in with %s credentials: %w", StagePending, err)
	}
	return nil
}

// finishSecret moves AWSCURRENT to the token's version, then takes
// AWSPENDING off it.
func (r *Rotator) finishSecret(ctx context.Context, secretID, token string) (stepInfo, error) {
	var info stepInfo
	versions, err := r.versions(ctx, secretID)
	if err != nil {
		return info, err
	}
	for id, stages := range versions {
		if id != token && slices.Contains(stages, StageCurrent) {
			info.previousVersion = id
		}
	}
	if info.previousVersion != "" {
		_, err := r.Client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId:            aws.String(secretID),
			VersionStage:        aws.String(StageCurrent),
			MoveToVersionId:     aws.String(token),
			RemoveFromVersionId: aws.String(info.previousVersion),
		})
		if err != nil {
			return info, err
		}
		if versions, err = r.versions(ctx, secretID); err != nil {
			return info, err
		}
	}
	// AWS may leave AWSPENDING next to AWSCURRENT; the rotation function
	// removes it so that the next rotation starts clean.
	if slices.Contains(versions[token], StagePending) {
		_, err := r.Client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId:            aws.String(secretID),
			VersionStage:        aws.String(StagePending),
			RemoveFromVersionId: aws.String(token),
		})
		if err != nil {
			return info, fmt.Errorf("removing %s: %w", StagePending, err)
		}
	}
	return info, nil
}

func (r *Rotator) versions(ctx context.Context, secretID string) (map[string][]string, error) {
	desc, err := r.Client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return nil, err
	}
	return desc.VersionIdsToStages, nil
}

// getSecret reads and decodes one version of a secret: by stage, and by
// version ID too when versionID is not empty.
func (r *Rotator) getSecret(ctx context.Context, secretID, stage, versionID string) (secretDict, string, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID), VersionStage: aws.String(stage)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := r.Client.GetSecretValue(ctx, in)
	if err != nil {
		return nil, "", err
	}
	if out.SecretString == nil {
		return nil, "", fmt.Errorf("secret %s (%s) has no SecretString", secretID, stage)
	}
	d, err := parseSecret(*out.SecretString)
	if err != nil {
		return nil, "", fmt.Errorf("secret %s (%s): %w", secretID, stage, err)
	}
	return d, aws.ToString(out.VersionId), nil
}

func isNotFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

// AltUsername returns the other user of an alternating-users pair: name
// without its "_clone" suffix, or name with it.
func AltUsername(name string) string {
	if base, ok := strings.CutSuffix(name, CloneSuffix); ok && base != "" {
		return base
	}
	return name + CloneSuffix
}

// secretDict is a decoded secret JSON object. Values stay raw, so keys the
// rotation does not touch (port as a number or a string, masterarn,
// dbClusterIdentifier, ...) are written back unchanged.
type secretDict map[string]json.RawMessage

func parseSecret(s string) (secretDict, error) {
	var d secretDict
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if d == nil {
		return nil, errors.New("not a JSON object: null")
	}
	return d, nil
}

// str returns the string value of key, which must be present.
func (d secretDict) str(key string) (string, error) {
	raw, ok := d[key]
	if !ok {
		return "", fmt.Errorf("no %q key", key)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("key %q is not a string", key)
	}
	return s, nil
}

// optStr returns the string value of key, or "" if it is missing or not a
// string.
func (d secretDict) optStr(key string) string {
	s, _ := d.str(key)
	return s
}

func (d secretDict) credentials() (user, password string, err error) {
	if user, err = d.str("username"); err != nil {
		return "", "", err
	}
	if password, err = d.str("password"); err != nil {
		return "", "", err
	}
	return user, password, nil
}

func (d secretDict) set(key, value string) {
	b, err := json.Marshal(value)
	if err != nil {
		panic(err) // cannot happen for a string
	}
	d[key] = b
}

func (d secretDict) clone() secretDict {
	c := make(secretDict, len(d))
	for k, v := range d {
		c[k] = slices.Clone(v)
	}
	return c
}

// PasswordChars are the characters GeneratePassword draws from besides the
// ones every password contains (see [HostileChars]): letters, digits and
// the rest of printable ASCII punctuation, as Secrets Manager's
// GetRandomPassword uses by default.
const PasswordChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!$&()*,-.<=>[]^_`|~"

// HostileChars are characters each generated password contains at least
// once: each of them breaks some naive DSN, URL or SQL quoting.
const HostileChars = `'"\@:/?#%;{}+ `

// GeneratePassword returns a random 32-character password: every character
// of [HostileChars] plus random characters of [PasswordChars] and
// HostileChars, shuffled, drawn from crypto/rand.
func GeneratePassword() (string, error) {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return "", err
	}
	rng := mrand.New(mrand.NewChaCha8(seed))
	const length = 32
	all := PasswordChars + HostileChars
	b := []byte(HostileChars)
	for len(b) < length {
		b = append(b, all[rng.IntN(len(all))])
	}
	rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	return string(b), nil
}
