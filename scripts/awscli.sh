#!/usr/bin/env bash
# awscli.sh makes sure an AWS CLI v2 is installed for the conformance tests
# of `secretsql emulator` (internal/cli/awscli_test.go). The first `aws` on
# PATH may be a v1: it looks for one whose `aws --version` starts with
# aws-cli/2 (on PATH, /usr/bin, /usr/local/bin) and, if there is none,
# installs Debian's awscli package with apt-get (as root). It is idempotent,
# prints one line, and exits non-zero if it cannot provide a v2.
set -euo pipefail

die() {
	echo "awscli: $*" >&2
	exit 1
}

# find_v2 prints the path of the first AWS CLI v2.
find_v2() {
	local c
	for c in /usr/bin/aws /usr/local/bin/aws $(type -ap aws || true); do
		if [[ -x $c ]] && "$c" --version 2>&1 | grep -q '^aws-cli/2'; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

if cli=$(find_v2); then
	echo "awscli: $("$cli" --version 2>&1) at $cli (already installed)"
	exit 0
fi
command -v apt-get >/dev/null || die "no AWS CLI v2 and no apt-get: install the AWS CLI v2"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q awscli >/dev/null; then
	apt-get update -q >/dev/null || die "apt-get update failed"
	apt-get install -y -q awscli >/dev/null || die "apt-get install awscli failed"
fi
cli=$(find_v2) || die "installed Debian's awscli, but found no aws-cli/2"
echo "awscli: $("$cli" --version 2>&1) at $cli (installed)"
