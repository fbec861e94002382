package secretsql

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
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

// apiIdentity scopes cached values to the AWS principal that read them: the
// credentials provider of the client (equal providers sign as the same
// principal), or the client itself when the provider cannot be compared.
type apiIdentity struct {
	principal any
	region    string
	endpoint  string
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
	default:
		awsCfg, err := defaultAWSConfig()
		if err != nil {
			return nil, &DSNError{Key: "AWS configuration", Reason: "loading the default AWS configuration failed", Err: err, option: true}
		}
		s.client = secretsmanager.NewFromConfig(awsCfg, override)
		s.id.principal = principalOf(awsCfg.Credentials, s.client)
	}
	if sm, ok := s.client.(*secretsmanager.Client); ok {
		o := sm.Options()
		override(&o)
		s.id.region, s.id.endpoint = o.Region, aws.ToString(o.BaseEndpoint)
		if cfg.client != nil {
			s.id.principal = principalOf(o.Credentials, sm)
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
