package secretsql

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// apiSource reads secrets with the GetSecretValue API of Secrets Manager.
type apiSource struct {
	client   GetSecretValueAPI
	callOpts []func(*secretsmanager.Options)
	id       apiIdentity
}

// apiIdentity scopes cached values to who reads them and where: the AWS
// principal (the credentials provider of the client: equal providers sign
// as the same principal; the client itself when the provider cannot be
// compared), the region, the base endpoint, and target: every other client
// setting that can send a request elsewhere (see clientTarget).
type apiIdentity struct {
	principal any
	region    string
	endpoint  string
	target    any
}

// configTarget is the target of a client built from an aws.Config: the
// settings besides the region and the base endpoint that decide where its
// requests go, or that can change what comes back. Each is held by pointer
// identity (pointerIdentity) — an equal value read from another place is
// not the same place — so two Connectors of one aws.Config compare equal,
// and two configurations built apart never do.
type configTarget struct {
	resolver       any // the client's EndpointResolverV2; nil for the SDK's default
	resolverV1     any // aws.Config.EndpointResolver (deprecated, still honoured)
	resolverV1Opts any // aws.Config.EndpointResolverWithOptions (same)
	httpClient     any // aws.Config.HTTPClient: a transport may dial anywhere
	apiOptions     any // aws.Config.APIOptions: middleware may rewrite a request
	serviceOptions any // aws.Config.ServiceOptions: may set any client option
	interceptors   any // aws.Config.Interceptors: may rewrite a request
	fips           aws.FIPSEndpointState
	dualStack      aws.DualStackEndpointState
}

var _ secretReader = (*apiSource)(nil)

func (s *apiSource) identity() any { return s.id }

func (s *apiSource) describe() sourceInfo {
	return sourceInfo{kind: "secretsmanager", region: s.id.region, endpoint: s.id.endpoint}
}

func (s *apiSource) read(ctx context.Context, r readRequest) (sourceValue, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.secretID), VersionStage: aws.String(r.stage)}
	out, err := s.client.GetSecretValue(ctx, in, s.callOpts...)
	if err != nil {
		return sourceValue{}, classifyFetchError(r.secretID, r.stage, err)
	}
	v := sourceValue{arn: aws.ToString(out.ARN), versionID: aws.ToString(out.VersionId)}
	if out.SecretString != nil {
		v.value = []byte(*out.SecretString)
	} else {
		v.value = out.SecretBinary
	}
	return v, nil
}

// newAPISource builds the client a Connector reads with, from the options
// (WithClient, WithAWSConfig, else the SDK's default chain) and the DSN's
// region and endpoint.
func newAPISource(d *dsnConfig, cfg *config) (*apiSource, error) {
	region := d.region
	if region == "" {
		if a, ok := parseSecretARN(d.secretID); ok {
			region = a.Region
		}
	}
	endpoint := d.endpoint
	override := func(o *secretsmanager.Options) {
		if region != "" {
			o.Region = region
		}
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}
	// The identity is the credentials provider of the configuration the
	// client is built from (the SDK may wrap it in a cache of its own per
	// client), or the client's own for a ready client.
	s := &apiSource{}
	switch {
	case cfg.client != nil:
		s.client = cfg.client
		if region != "" || endpoint != "" {
			s.callOpts = []func(*secretsmanager.Options){override}
		}
	case cfg.awsConfig != nil:
		s.client = secretsmanager.NewFromConfig(*cfg.awsConfig, override)
		s.id.principal = principalOf(cfg.awsConfig.Credentials, s.client)
		s.id.target = configTargetOf(cfg.awsConfig, s.client.(*secretsmanager.Client))
	default:
		awsCfg, err := defaultAWSConfig()
		if err != nil {
			return nil, &DSNError{Key: "AWS configuration", Reason: "loading the default AWS configuration failed", Err: err, option: true}
		}
		s.client = secretsmanager.NewFromConfig(awsCfg, override)
		s.id.principal = principalOf(awsCfg.Credentials, s.client)
		s.id.target = configTargetOf(&awsCfg, s.client.(*secretsmanager.Client))
	}
	if sm, ok := s.client.(*secretsmanager.Client); ok {
		o := sm.Options()
		override(&o)
		s.id.region, s.id.endpoint = o.Region, aws.ToString(o.BaseEndpoint)
		if cfg.client != nil {
			// A ready client shares with itself only: its endpoint
			// resolver, HTTP client, API options and interceptors are
			// its own copies (the SDK wraps even the HTTP client of
			// the aws.Config it was built from in a new one per
			// client), so nothing shows that another client sends its
			// requests to the same place.
			s.id.principal = principalOf(o.Credentials, sm)
			s.id.target = sm
		}
	} else {
		s.id.region, s.id.endpoint = region, endpoint
		s.id.principal = principalOf(s.client, s.client)
	}
	if s.id.region == "" {
		return nil, &DSNError{Key: "region", Reason: "no AWS region: use a full secret ARN, add region=… to the DSN, or set AWS_REGION"}
	}
	return s, nil
}

// configTargetOf returns the configTarget of client, built from cfg.
func configTargetOf(cfg *aws.Config, client *secretsmanager.Client) configTarget {
	o := client.Options()
	t := configTarget{
		//lint:ignore SA1019 a deprecated resolver still sends reads elsewhere: it is part of the identity
		resolverV1: pointerIdentity(cfg.EndpointResolver),
		//lint:ignore SA1019 as above
		resolverV1Opts: pointerIdentity(cfg.EndpointResolverWithOptions),
		httpClient:     pointerIdentity(cfg.HTTPClient),
		apiOptions:     sliceIdentity(cfg.APIOptions),
		serviceOptions: sliceIdentity(cfg.ServiceOptions),
		interceptors:   interceptorsIdentity(cfg),
		fips:           o.EndpointOptions.UseFIPSEndpoint,
		dualStack:      o.EndpointOptions.UseDualStackEndpoint,
	}
	// The SDK gives every client a new default resolver (a stateless
	// empty struct): any two resolve alike.
	if reflect.TypeOf(o.EndpointResolverV2) != defaultResolverType {
		t.resolver = pointerIdentity(o.EndpointResolverV2)
	}
	return t
}

var defaultResolverType = reflect.TypeOf(secretsmanager.NewDefaultEndpointResolverV2())

// pointerIdentity returns v if it is nil or a pointer (compared by
// identity, and kept alive by the identity that holds it), else a new
// value equal to no other: a value held in an interface may be a func or
// a struct with state behind it, so equal values need not act alike.
func pointerIdentity(v any) any {
	if v == nil {
		return nil
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Pointer, reflect.Chan, reflect.UnsafePointer:
		return v
	}
	return new(byte)
}

// sliceID is the identity of a non-empty slice: its first element's
// address (which keeps the array alive, so that the address cannot be
// reused) and its length.
type sliceID[T any] struct {
	first *T
	n     int
}

// sliceIdentity returns nil for an empty slice, else its sliceID: copies of
// one aws.Config hold the same array, configurations appended to apart do
// not. Not seen: an element overwritten in place after a client was built
// (two configurations appended to from one base with room to spare share
// the array, and the second append changes the first configuration too: an
// aliasing bug of the program that redirects its other clients as well).
func sliceIdentity[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return sliceID[T]{first: &s[0], n: len(s)}
}

// interceptorsIdentity returns nil for an aws.Config without
// interceptors, else the identity of each non-empty hook slice, found by
// reflection so that a hook added to smithy-go is not missed.
func interceptorsIdentity(cfg *aws.Config) any {
	v := reflect.ValueOf(&cfg.Interceptors).Elem()
	var id any
	for i := v.NumField() - 1; i >= 0; i-- {
		if f := v.Field(i); f.Kind() == reflect.Slice && f.Len() > 0 {
			id = hookID{field: i, first: f.Index(0).Addr().Interface(), n: f.Len(), next: id}
		}
	}
	return id
}

// hookID is the identity of one non-empty hook slice of an
// InterceptorRegistry (the address of its first element and its length),
// and of the next ones.
type hookID struct {
	field int
	first any
	n     int
	next  any
}

// principalOf returns v as the identity of a reader when it can be compared
// (a pointer, or a struct of comparable values such as static keys), else
// fallback, itself a pointer or an interface holding one.
func principalOf(v, fallback any) any {
	if comparableValue(v) {
		return v
	}
	if comparableValue(fallback) {
		return fallback
	}
	return new(byte) // unique: shares with nobody
}

// comparableValue reports whether v can be a map key, without reflect: a
// value of a func, map or slice type (or a struct holding one) panics
// when hashed.
func comparableValue(v any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_ = map[any]struct{}{v: {}}
	return true
}

// The default AWS configuration is loaded once per set of AWS_* environment
// variables, so that every sql.Open of the process reads with one
// credentials provider (and so shares cached values), while a program or
// test that changes its AWS environment gets a configuration of its own.
var (
	defaultAWSMu   sync.Mutex
	defaultAWSCfgs = map[[sha256.Size]byte]aws.Config{}
)

func defaultAWSConfig() (aws.Config, error) {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	slices.Sort(env)
	key := sha256.Sum256([]byte(strings.Join(env, "\x00")))
	defaultAWSMu.Lock()
	defer defaultAWSMu.Unlock()
	if cfg, ok := defaultAWSCfgs[key]; ok {
		return cfg, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		return cfg, err
	}
	if len(defaultAWSCfgs) >= 16 {
		clear(defaultAWSCfgs)
	}
	defaultAWSCfgs[key] = cfg
	return cfg, nil
}

// classifyFetchError maps an SDK error to a *FetchError by its type, code
// and HTTP status.
func classifyFetchError(secretID, stage string, err error) error {
	fe := &FetchError{SecretID: secretID, Stage: stage, Kind: ErrSecretsManager, Err: err}
	var re *awshttp.ResponseError
	// No HTTP answer (a send failure is a ResponseError with status 0), or a
	// 5xx: the service is unavailable.
	fe.unavailable = !errors.As(err, &re) || re.HTTPStatusCode() == 0 || re.HTTPStatusCode() >= 500
	var ae smithy.APIError
	if errors.As(err, &ae) {
		classifyCode(fe, ae.ErrorCode())
	}
	return fe
}

// classifyCode sets fe's Code, and its Kind by the code.
func classifyCode(fe *FetchError, code string) {
	fe.Code = code
	switch code {
	case "ResourceNotFoundException":
		fe.Kind = ErrSecretNotFound
	case "AccessDeniedException", "AccessDenied":
		fe.Kind = ErrAccessDenied
	case "InvalidRequestException":
		fe.Kind = ErrSecretDeleted
	case "DecryptionFailure":
		fe.Kind = ErrDecryption
	case "ThrottlingException", "Throttling", "TooManyRequestsException":
		fe.Kind = ErrThrottled
		fe.unavailable = true
	}
}
