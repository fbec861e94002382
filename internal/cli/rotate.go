package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// rotatePoll is how often rotate checks whether the rotation has finished.
const rotatePoll = 200 * time.Millisecond

// runRotate starts a rotation with RotateSecret and waits until the new
// version is AWSCURRENT. It works with Secrets Manager and with the
// emulator, configured by the AWS SDK's default chain.
func runRotate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("secretsql rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	region := fs.String("region", "", "AWS region (default: the SDK's chain, AWS_REGION)")
	endpoint := fs.String("endpoint", "", "Secrets Manager endpoint URL (default: the SDK's chain, AWS_ENDPOINT_URL_SECRETS_MANAGER)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the new version to become AWSCURRENT")
	noWait := fs.Bool("no-wait", false, "return once RotateSecret has started the rotation")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: secretsql rotate <secret-id> [flags]\n\nRotates the secret now (RotateSecret) and waits until the new version is AWSCURRENT. Flags:")
		fs.PrintDefaults()
	}
	pos, code, ok := parseArgs(fs, args, 1, "need exactly one secret id (name or ARN)", stderr)
	if !ok {
		return code
	}
	secretID := pos[0]
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "secretsql rotate: loading the AWS configuration:", err)
		return exitUsage
	}
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if *region != "" {
			o.Region = *region
		}
		if *endpoint != "" {
			o.BaseEndpoint = aws.String(*endpoint)
		}
	})
	out, err := client.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		fmt.Fprintln(stderr, "secretsql rotate:", err)
		return exitUnreadable
	}
	version := aws.ToString(out.VersionId)
	fmt.Fprintf(stdout, "rotation of %s started: new version %s\n", secretID, version)
	if *noWait {
		return exitOK
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	t := time.NewTicker(rotatePoll)
	defer t.Stop()
	for {
		d, err := client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
		if err != nil && ctx.Err() == nil {
			fmt.Fprintln(stderr, "secretsql rotate:", err)
			return exitUnreadable
		}
		if err == nil {
			stages := d.VersionIdsToStages[version]
			if slices.Contains(stages, "AWSCURRENT") {
				fmt.Fprintf(stdout, "rotated %s: version %s is AWSCURRENT (AWSPREVIOUS: %s)\n", secretID, version, labelled(d.VersionIdsToStages, "AWSPREVIOUS"))
				return exitOK
			}
			if !slices.Contains(stages, "AWSPENDING") {
				fmt.Fprintf(stderr, "secretsql rotate: version %s of %s is no longer AWSPENDING and did not become AWSCURRENT: the rotation was cancelled\n", version, secretID)
				return exitInternal
			}
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(stderr, "secretsql rotate: version %s of %s is still AWSPENDING after %s: the rotation failed or is slow; the emulator's log (or the rotation function's logs) says why\n", version, secretID, *timeout)
			return exitInternal
		case <-t.C:
		}
	}
}

// labelled returns the version that has the staging label, or "none".
func labelled(versions map[string][]string, label string) string {
	for id, stages := range versions {
		if slices.Contains(stages, label) {
			return id
		}
	}
	return "none"
}
