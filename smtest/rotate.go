package smtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/secretsql/secretsql/internal/rotation"
	"github.com/secretsql/secretsql/internal/rotation/sqldb"
)

// rotationRules is RotationRulesType, as DescribeSecret shows it.
type rotationRules struct {
	AutomaticallyAfterDays *int64 `json:"AutomaticallyAfterDays,omitempty"`
	Duration               string `json:"Duration,omitempty"`
	ScheduleExpression     string `json:"ScheduleExpression,omitempty"`
}

// rotationState is a secret's rotation configuration and progress.
type rotationState struct {
	configured bool // RotationEnabled is reported once RotateSecret was called
	enabled    bool
	lambdaARN  string
	rules      *rotationRules
	interval   time.Duration // from rules; 0 when there is no schedule
	last       time.Time     // end of the last successful rotation
	next       time.Time     // next scheduled rotation; zero if none
	run        *rotationRun  // the rotation in progress, or the last one
}

// rotationRun is one rotation, running in the background.
type rotationRun struct {
	token  string
	cancel context.CancelFunc
	done   chan struct{} // closed when the rotation has ended
	err    error         // why it failed; set before done is closed
}

func (st *rotationState) running() bool {
	if st.run == nil {
		return false
	}
	select {
	case <-st.run.done:
		return false
	default:
		return true
	}
}

// describe adds the rotation fields of DescribeSecret and ListSecrets. As
// with AWS, RotationEnabled is absent for a secret that was never
// configured for rotation, and the rotation dates are absent while rotation
// is off.
func (st *rotationState) describe(m *secretMeta) {
	if !st.configured {
		return
	}
	enabled := st.enabled
	m.RotationEnabled = &enabled
	m.RotationLambdaARN = st.lambdaARN
	if st.rules != nil {
		r := *st.rules
		m.RotationRules = &r
	}
	if enabled {
		m.LastRotatedDate = epoch(st.last)
		m.NextRotationDate = epoch(st.next)
	}
}

// schedule sets the next rotation to one interval after from: every if it
// is set (the emulator's lab setting), else the interval of the rotation
// rules; none if rotation is off or has no interval.
func (st *rotationState) schedule(from time.Time, every time.Duration) {
	d := every
	if d == 0 {
		d = st.interval
	}
	if !st.enabled || d == 0 {
		st.next = time.Time{}
		return
	}
	st.next = time.UnixMilli(from.Add(d).UnixMilli())
}

// pendingVersion returns the version that carries AWSPENDING without
// AWSCURRENT: a rotation that is in progress, or that failed.
func (sec *secret) pendingVersion() (string, bool) {
	id, ok := sec.labels[rotation.StagePending]
	return id, ok && id != sec.labels[rotation.StageCurrent]
}

// ---- RotateSecret ----

type rotationRulesInput struct {
	AutomaticallyAfterDays *int64  `json:"AutomaticallyAfterDays"`
	Duration               *string `json:"Duration"`
	ScheduleExpression     *string `json:"ScheduleExpression"`
}

type rotateSecretInput struct {
	secretIDInput
	ClientRequestToken *string             `json:"ClientRequestToken"`
	RotationLambdaARN  *string             `json:"RotationLambdaARN"`
	RotationRules      *rotationRulesInput `json:"RotationRules"`
	RotateImmediately  *bool               `json:"RotateImmediately"`
}

// Patterns of RotationRulesType members, from the API reference, and the
// rate() expressions the emulator understands.
var (
	durationPattern = regexp.MustCompile(`^[0-9h]+$`)
	schedulePattern = regexp.MustCompile(`^[0-9A-Za-z()#?*\-/, ]+$`)
	ratePattern     = regexp.MustCompile(`^rate\(\s*([0-9]+)\s+(hour|hours|day|days)\s*\)$`)
	cronPattern     = regexp.MustCompile(`^cron\(.*\)$`)
)

func (in *rotateSecretInput) validate(val *validation) *apiError {
	in.secretIDInput.validate(val)
	val.length("clientRequestToken", in.ClientRequestToken, minTokenLen, maxTokenLen)
	val.length("rotationLambdaARN", in.RotationLambdaARN, 0, 2048)
	r := in.RotationRules
	if r == nil {
		return nil
	}
	val.rangeInt("rotationRules.automaticallyAfterDays", r.AutomaticallyAfterDays, 1, 1000)
	val.length("rotationRules.duration", r.Duration, 2, 3)
	val.length("rotationRules.scheduleExpression", r.ScheduleExpression, 1, 256)
	for _, p := range []struct {
		member  string
		value   *string
		pattern *regexp.Regexp
	}{{"duration", r.Duration, durationPattern}, {"scheduleExpression", r.ScheduleExpression, schedulePattern}} {
		if p.value != nil && !p.pattern.MatchString(*p.value) {
			val.custom(fmt.Sprintf("Value '%s' at 'rotationRules.%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s",
				*p.value, p.member, p.pattern))
		}
	}
	_, perr := r.interval()
	return perr
}

// interval checks the rules and returns the time between rotations they
// ask for.
func (r *rotationRulesInput) interval() (time.Duration, *apiError) {
	if r.Duration != nil {
		h, err := strconv.Atoi(*r.Duration)
		if n := len(*r.Duration); n > 1 && (*r.Duration)[n-1] == 'h' {
			h, err = strconv.Atoi((*r.Duration)[:n-1])
		}
		if err != nil || h < 1 || h > 24 {
			return 0, newError(codeInvalidParameter, "The rotation window Duration %q must be between 1h and 24h.", *r.Duration)
		}
	}
	const day = 24 * time.Hour
	switch aad, se := r.AutomaticallyAfterDays, r.ScheduleExpression; {
	case aad != nil && se != nil:
		return 0, newError(codeInvalidParameter,
			"You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.")
	case aad != nil:
		return time.Duration(*aad) * day, nil
	case se == nil:
		return 0, newError(codeInvalidParameter,
			"RotationRules must contain AutomaticallyAfterDays or ScheduleExpression.")
	case cronPattern.MatchString(*se):
		return 0, newError(codeValidation,
			"smtest does not support cron() schedule expressions (%q); use rate(N hours), rate(N days) or AutomaticallyAfterDays.", *se)
	}
	m := ratePattern.FindStringSubmatch(*r.ScheduleExpression)
	if m == nil {
		return 0, newError(codeInvalidParameter, "The schedule expression %q is neither rate() nor cron().", *r.ScheduleExpression)
	}
	n, err := strconv.Atoi(m[1])
	switch unit := m[2]; {
	case err != nil:
	case (unit == "hour" || unit == "hours") && n >= 4 && n <= 1000*24:
		return time.Duration(n) * time.Hour, nil
	case (unit == "day" || unit == "days") && n >= 1 && n <= 1000:
		return time.Duration(n) * day, nil
	}
	return 0, newError(codeInvalidParameter,
		"The schedule expression %q is out of range: rotate at most every 4 hours and at least every 1000 days.", *r.ScheduleExpression)
}

// rules returns the rotation rules as DescribeSecret shows them; a rate in
// whole days is also shown as AutomaticallyAfterDays.
func (r *rotationRulesInput) rules(interval time.Duration) *rotationRules {
	out := &rotationRules{Duration: aws.ToString(r.Duration), ScheduleExpression: aws.ToString(r.ScheduleExpression)}
	if days := int64(interval / (24 * time.Hour)); days > 0 && interval%(24*time.Hour) == 0 {
		out.AutomaticallyAfterDays = &days
	}
	return out
}

func (s *Server) rotateSecret(in *rotateSecretInput, sec *secret, now time.Time) (any, *apiError) {
	r, err := s.rotatable(sec)
	if err != nil {
		return nil, newError(codeInvalidRequest, "smtest cannot rotate the secret %s: %v", sec.name, err)
	}
	st := &sec.rotation
	out := versionOutput{ARN: sec.arn, Name: sec.name}
	if pending, ok := sec.pendingVersion(); ok {
		if !st.running() {
			s.startRotationLocked(sec, pending, r) // "That rotation will be reattempted."
		}
		if aws.ToString(in.ClientRequestToken) == pending {
			out.VersionID = pending // the same request again
			return out, nil
		}
		return nil, newError(codeInvalidRequest, "A previous rotation isn't complete. That rotation will be reattempted.")
	}
	token := newUUID()
	if in.ClientRequestToken != nil {
		token = *in.ClientRequestToken
		if sec.versions[token] != nil {
			out.VersionID = token // a request that completed already
			return out, nil
		}
	}
	if r := in.RotationRules; r != nil {
		st.interval, _ = r.interval() // validate checked it
		st.rules = r.rules(st.interval)
	}
	if in.RotationLambdaARN != nil {
		st.lambdaARN = *in.RotationLambdaARN // accepted, never invoked
	}
	st.configured, st.enabled = true, true
	if in.RotateImmediately != nil && !*in.RotateImmediately {
		st.schedule(now, s.rotateEvery)
		s.ensureSchedulerLocked()
		return out, nil
	}
	sec.addPendingVersion(token, now)
	s.startRotationLocked(sec, token, r)
	out.VersionID = token
	return out, nil
}

// rotatable checks that the emulator can rotate sec: its AWSCURRENT value
// is a database secret of an engine with a local server, with a username
// and a password, and for alternating users a masterarn. It returns the
// rotator for it, without its Client: its database, and its strategy,
// alternating users if the secret has a masterarn, as AWS's templates for
// it require. Its database connections go only to the addresses
// allowDatabase allows.
func (s *Server) rotatable(sec *secret) (*rotation.Rotator, error) {
	v := sec.versions[sec.labels[rotation.StageCurrent]]
	if !v.hasValue() || v.str == nil {
		return nil, errors.New("it has no AWSCURRENT SecretString")
	}
	db, err := sqldb.FromSecret(*v.str)
	if err != nil {
		return nil, err
	}
	db.Allow = s.allowDatabase
	var keys map[string]any
	_ = json.Unmarshal([]byte(*v.str), &keys) // FromSecret parsed it
	for _, k := range []string{"username", "password"} {
		if _, ok := keys[k].(string); !ok {
			return nil, fmt.Errorf("its %q key is missing or not a string", k)
		}
	}
	r := &rotation.Rotator{DB: db, Strategy: rotation.SingleUser}
	if master, ok := keys["masterarn"]; ok {
		if m, isString := master.(string); !isString || m == "" {
			return nil, errors.New(`its "masterarn" key is not the ARN of the admin secret`)
		}
		r.Strategy = rotation.AlternatingUsers
	}
	return r, nil
}

// allowDatabase reports whether a rotation may connect to a database at
// addr: a loopback address, or one in the networks of WithRotationNetworks.
func (s *Server) allowDatabase(addr netip.Addr) bool {
	addr = addr.Unmap()
	if addr.IsLoopback() {
		return true
	}
	for _, n := range s.rotationNets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// startRotationLocked runs the rotation of sec to version token with r (as
// rotatable returned it) in the background, through internal/rotation's
// four steps and the server's own API, like a rotation function would.
func (s *Server) startRotationLocked(sec *secret, token string, r *rotation.Rotator) {
	ctx, cancel := context.WithCancel(s.rotCtx)
	run := &rotationRun{token: token, cancel: cancel, done: make(chan struct{})}
	sec.rotation.run = run
	if s.rotClosed {
		err := errors.New("the server is closed")
		s.logger.Error("smtest: rotation not started", "secret", sec.name, "version", token, "error", err.Error())
		s.endRotationLocked(sec, run, err, time.Now())
		return
	}
	r.Client = s.ClientFor(sec.region)
	s.rotWG.Add(1)
	go func() {
		defer s.rotWG.Done()
		s.rotate(ctx, sec, run, r)
	}()
}

func (s *Server) rotate(ctx context.Context, sec *secret, run *rotationRun, r *rotation.Rotator) {
	log := s.logger.With("secret", sec.name, "version", run.token)
	step := rotation.CreateSecret
	r.Hook = func(ctx context.Context, next rotation.Step) error {
		step = next
		if next == rotation.FinishSecret && s.rotationWindow > 0 {
			log.Info("smtest: rotation: holding the setSecret→finishSecret window open", "window", s.rotationWindow)
			t := time.NewTimer(s.rotationWindow)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
		return ctx.Err()
	}
	r.Logf = func(format string, args ...any) { log.Info("smtest: " + fmt.Sprintf(format, args...)) }
	log.Info("smtest: rotation started", "strategy", r.Strategy.String())
	res, err := r.RotateVersion(ctx, sec.arn, run.token)
	var addrErr *sqldb.AddrError
	switch {
	case errors.As(err, &addrErr):
		log.Error("smtest: rotation failed; AWSPENDING stays on the version", "step", string(step), "error", err.Error(),
			"hint", "rotations connect only to loopback databases; allow more networks with WithRotationNetworks (secretsql emulator --rotation-network)")
	case err != nil:
		log.Error("smtest: rotation failed; AWSPENDING stays on the version", "step", string(step), "error", err.Error())
	default:
		log.Info("smtest: rotation finished", "previous_version", res.PreviousVersionID, "user", res.Username)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endRotationLocked(sec, run, err, time.Now())
}

// endRotationLocked records the end of a rotation and schedules the next
// one (after a failure too: AWS retries failed rotations).
func (s *Server) endRotationLocked(sec *secret, run *rotationRun, err error, now time.Time) {
	st := &sec.rotation
	if err == nil {
		st.last = time.UnixMilli(now.UnixMilli())
	}
	st.schedule(now, s.rotateEvery)
	if !st.next.IsZero() {
		s.ensureSchedulerLocked()
	}
	run.err = err
	run.cancel()
	close(run.done)
}

// ensureSchedulerLocked starts the goroutine that runs scheduled
// rotations, once a secret has a schedule.
func (s *Server) ensureSchedulerLocked() {
	if s.schedulerStarted || s.rotClosed {
		return
	}
	s.schedulerStarted = true
	tick := time.Second
	if s.rotateEvery > 0 {
		tick = min(max(s.rotateEvery/10, 10*time.Millisecond), time.Second)
	}
	s.rotWG.Add(1)
	go func() {
		defer s.rotWG.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-s.rotCtx.Done():
				return
			case now := <-t.C:
				s.rotateDue(now)
			}
		}
	}()
}

// rotateDue starts the rotations whose time has come, resuming a pending
// version rather than starting a new one. Replicas rotate with their
// primary only.
func (s *Server) rotateDue(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var secrets []*secret
	for _, name := range s.regions.order {
		secrets = append(secrets, s.listLocked(s.regions.get(name), nil, false, now)...)
	}
	for _, sec := range secrets {
		st := &sec.rotation
		if sec.replica != nil || !st.enabled || st.next.IsZero() || now.Before(st.next) || st.running() {
			continue
		}
		r, err := s.rotatable(sec)
		if err != nil {
			s.logger.Error("smtest: scheduled rotation skipped", "secret", sec.name, "error", err.Error())
			st.schedule(now, s.rotateEvery)
			continue
		}
		token, resume := sec.pendingVersion()
		if !resume {
			token = newUUID()
			sec.addPendingVersion(token, time.UnixMilli(now.UnixMilli()))
		}
		s.startRotationLocked(sec, token, r)
	}
}

// ---- CancelRotateSecret ----

func (s *Server) cancelRotateSecret(_ *secretIDInput, sec *secret, _ time.Time) (any, *apiError) {
	st := &sec.rotation
	st.enabled = false
	st.next = time.Time{}
	if st.running() {
		st.run.cancel()
	}
	out := versionOutput{ARN: sec.arn, Name: sec.name}
	if pending, ok := sec.pendingVersion(); ok {
		out.VersionID = pending // incomplete: the caller should take AWSPENDING off it
	}
	return out, nil
}

// WaitRotation waits until the latest rotation of the secret (started by
// RotateSecret or by the schedule) has ended and returns its error: nil if
// it succeeded or if the secret was never rotated. secretID may be a name,
// full ARN or partial ARN, of a secret in any served region (see
// WithRegions; a name is looked up in the primary region first). It
// returns ctx's error if ctx ends first.
func (s *Server) WaitRotation(ctx context.Context, secretID string) error {
	s.mu.Lock()
	sec := s.lookupLocked(secretID, time.Now())
	var run *rotationRun
	if sec != nil {
		run = sec.rotation.run
	}
	s.mu.Unlock()
	if sec == nil {
		return fmt.Errorf("smtest: WaitRotation: no secret %q", secretID)
	}
	if run == nil {
		return nil
	}
	select {
	case <-run.done:
		return run.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
