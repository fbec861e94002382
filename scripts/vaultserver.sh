#!/usr/bin/env bash
# vaultserver.sh builds the HashiCorp Vault server that the tests of the vault
# module (vault/vaulttest) run in dev mode, once, into a cache directory, and
# prints the binary's path on stdout (messages go to stderr):
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/secretsql/vault-1.14.1/vault
#
# (VAULT_CACHE_DIR overrides the directory.) When the binary is there and
# answers `vault version` with the expected version, it does nothing else.
#
# Vault v1.14.1 is the last MPL-2.0 release the Go module proxy serves, but no
# published github.com/hashicorp/vault/sdk version matches the sdk/ directory
# it was released with. The recipe (docs/TESTING.md, "The Vault test bed"):
# the module tools/vaultserver (its go.mod and go.sum are committed) requires
# only github.com/hashicorp/vault v1.14.1 and replaces the sdk with ./sdk, a
# copy of sdk v0.9.2 from the module cache in which a start-up consistency
# check is disabled: the two panics "Pattern %v defines a CreateOperation but
# no ExistenceCheck" in framework/backend.go, which Vault's own managed-keys/
# path trips. The copy and the build happen in a temporary directory outside
# the repository. The first build downloads hundreds of modules and takes
# minutes; it is serialised with flock, so concurrent runs build once.
set -euo pipefail

readonly VAULT_VERSION=1.14.1
readonly SDK_VERSION=v0.9.2
readonly PANIC_LINE='panic(fmt.Sprintf("Pattern %v defines a CreateOperation but no ExistenceCheck", p.Pattern))'
readonly PATCHED_LINE='_ = p // secretsql (scripts/vaultserver.sh): start-up check disabled'

die() {
	echo "vaultserver: $*" >&2
	exit 1
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${VAULT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretsql/vault-${VAULT_VERSION}}
bin=$cache/vault
GO=${GO:-go}

# usable BIN: BIN runs and reports the expected version (bounded: a broken
# binary must not hang the build).
usable() {
	[[ -x $1 ]] && timeout 30 "$1" version 2>/dev/null | grep -q "^Vault v${VAULT_VERSION}\b"
}

if usable "$bin"; then
	echo "$bin"
	exit 0
fi

mkdir -p "$cache" || die "cannot create $cache"
exec 9>"$cache/.lock"
flock 9 || die "cannot lock $cache/.lock"
if usable "$bin"; then # built by a concurrent run while we waited
	echo "$bin"
	exit 0
fi

start=$SECONDS
build=$(mktemp -d "${TMPDIR:-/tmp}/secretsql-vaultbuild.XXXXXX")
trap 'rm -rf "$build"' EXIT

# The module tools/vaultserver, with its pinned go.sum; GOWORK=off and
# -mod=readonly: the build uses exactly the committed requirements.
export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false"
cp "$root/tools/vaultserver/go.mod" "$root/tools/vaultserver/go.sum" "$build/"

# The sdk copy. `go mod download` runs outside any module (an empty directory).
mkdir "$build/dl"
sdk_json=$(cd "$build/dl" && GOFLAGS= "$GO" mod download -json "github.com/hashicorp/vault/sdk@${SDK_VERSION}") ||
	die "go mod download github.com/hashicorp/vault/sdk@${SDK_VERSION} failed: $sdk_json"
sdk_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$sdk_json")
[[ -n $sdk_dir && -f $sdk_dir/framework/backend.go ]] ||
	die "no module directory for github.com/hashicorp/vault/sdk@${SDK_VERSION} in: $sdk_json"
cp -R "$sdk_dir" "$build/sdk"
chmod -R u+w "$build/sdk"

# The patch: exactly two panics before, none after, else stop loudly (a
# different sdk would need a new look, not a silent no-op).
target=$build/sdk/framework/backend.go
n=$(grep -cF "$PANIC_LINE" "$target" || true)
[[ $n == 2 ]] || die "expected 2 lines '$PANIC_LINE' in sdk@${SDK_VERSION} framework/backend.go, found $n: the patch does not apply"
sed -i "s|$(sed 's/[][\.*^$|]/\\&/g' <<<"$PANIC_LINE")|$PATCHED_LINE|" "$target"
n=$(grep -cF "$PANIC_LINE" "$target" || true)
m=$(grep -cF "$PATCHED_LINE" "$target" || true)
[[ $n == 0 && $m == 2 ]] || die "patching framework/backend.go failed ($n panics left, $m patched lines)"

echo "vaultserver: building Vault v${VAULT_VERSION} (sdk ${SDK_VERSION}, patched) into $cache; the first build takes minutes" >&2
(cd "$build" && "$GO" build -trimpath -o "$cache/vault.new" github.com/hashicorp/vault) ||
	die "go build github.com/hashicorp/vault failed (in $build)"
usable "$cache/vault.new" || die "the built binary does not answer 'vault version' with v${VAULT_VERSION}"
mv -f "$cache/vault.new" "$bin"
echo "vaultserver: built $("$bin" version) in $((SECONDS - start)) s" >&2
echo "$bin"
