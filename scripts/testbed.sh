#!/usr/bin/env bash
# testbed.sh prepares the local database servers that secretsql's integration
# tests use (internal/testdb). It is idempotent and meant to run as root:
#
#   - starts PostgreSQL and MariaDB if they are down and waits (bounded) until
#     both accept TCP connections on 127.0.0.1;
#   - PostgreSQL: creates the NOLOGIN group role secretsql_test and puts two
#     scram-sha-256 lines for its members FIRST in the server's pg_hba.conf, so
#     that test users must log in with their password even though the rest of
#     the file trusts everyone; checks password_encryption is scram-sha-256;
#   - MariaDB: drops anonymous accounts (''@host), which would otherwise shadow
#     the test users' 'name'@'%' accounts;
#   - a stand-in for RDS IAM authentication (iamtest): builds the token
#     verifier iamtest/cmd/iamverify into /usr/local/libexec, writes the PAM
#     services secretsql-iam-postgres and secretsql-iam-mariadb (pam_exec with
#     expose_authtok), creates the key registry /run/secretsql-iamtest/keys;
#     PostgreSQL: group role rds_iam and two `pam` lines for its members right
#     after the scram-sha-256 lines; MariaDB: a test CA and server certificate
#     (/var/lib/secretsql-testbed/tls), TLS and pam_use_cleartext_plugin in
#     /etc/mysql/secretsql-testbed.cnf (MariaDB is restarted only when that file
#     changes), the auth_pam_v1 plugin; then proves on both servers that a
#     wrong token is refused.
#
# It prints one line per server and exits non-zero if a server cannot be
# started or configured.
set -euo pipefail

readonly WAIT_SECONDS=60
readonly PG_GROUP=secretsql_test
readonly HBA_MARKER="# secretsql testbed (scripts/testbed.sh): members of ${PG_GROUP} log in by password"
readonly HBA_V4="host all +${PG_GROUP} 127.0.0.1/32 scram-sha-256"
readonly HBA_V6="host all +${PG_GROUP} ::1/128 scram-sha-256"
readonly IAM_GROUP=rds_iam
readonly IAM_PROGRAM=/usr/local/libexec/secretsql-iamverify
readonly IAM_PG_SERVICE=secretsql-iam-postgres
readonly IAM_MARIA_SERVICE=secretsql-iam-mariadb
readonly IAM_KEYS=/run/secretsql-iamtest/keys
readonly TLS_DIR=/var/lib/secretsql-testbed/tls
readonly MARIA_CNF=/etc/mysql/secretsql-testbed.cnf
readonly MARIA_MAIN_CNF=/etc/mysql/my.cnf
readonly HBA_IAM_MARKER="# secretsql testbed (scripts/testbed.sh): members of ${IAM_GROUP} log in with an IAM token (PAM, iamtest)"
readonly HBA_IAM_V4="host all +${IAM_GROUP} 127.0.0.1/32 pam pamservice=${IAM_PG_SERVICE}"
readonly HBA_IAM_V6="host all +${IAM_GROUP} ::1/128 pam pamservice=${IAM_PG_SERVICE}"
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT

die() {
	echo "testbed: $*" >&2
	exit 1
}

# wait_for NAME CMD...: runs CMD every half second until it succeeds or
# WAIT_SECONDS have passed.
wait_for() {
	local name=$1
	shift
	local deadline=$((SECONDS + WAIT_SECONDS))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			die "$name did not accept connections within ${WAIT_SECONDS}s (check: $*)"
		fi
		sleep 0.5
	done
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
maria_up() { mariadb-admin --connect-timeout=2 -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -At -h 127.0.0.1 -p 5432 -U postgres -d postgres "$@"; }
maria_admin() { mariadb --connect-timeout=5 -h127.0.0.1 -P3306 -uroot -N -B "$@"; }

# --- PostgreSQL -------------------------------------------------------------
pg_actions=()
if ! pg_up; then
	versions=$(ls /etc/postgresql 2>/dev/null) || die "no PostgreSQL cluster under /etc/postgresql"
	[[ -n $versions ]] || die "no PostgreSQL cluster under /etc/postgresql"
	for v in $versions; do
		pg_ctlcluster --skip-systemctl-redirect "$v" main start ||
			die "cannot start PostgreSQL $v (pg_ctlcluster --skip-systemctl-redirect $v main start)"
	done
	pg_actions+=("started")
fi
wait_for PostgreSQL pg_up

psql_admin -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${PG_GROUP}') THEN
    CREATE ROLE ${PG_GROUP} NOLOGIN;
  END IF;
END \$\$;" || die "cannot create group role ${PG_GROUP}"

enc=$(psql_admin -c "SHOW password_encryption") || die "cannot query password_encryption"
if [[ $enc != scram-sha-256 ]]; then
	psql_admin -c "ALTER SYSTEM SET password_encryption = 'scram-sha-256'" >/dev/null ||
		die "cannot set password_encryption"
	pg_actions+=("password_encryption ${enc} -> scram-sha-256")
fi

hba=$(psql_admin -c "SHOW hba_file") || die "cannot query hba_file"
[[ -f $hba ]] || die "pg_hba file $hba not found"
if ! grep -qxF "$HBA_V4" "$hba" || ! grep -qxF "$HBA_V6" "$hba"; then
	tmp=$(mktemp)
	{
		echo "$HBA_MARKER"
		grep -qxF "$HBA_V4" "$hba" || echo "$HBA_V4"
		grep -qxF "$HBA_V6" "$hba" || echo "$HBA_V6"
		cat "$hba"
	} >"$tmp"
	# Rewrite in place so that the file keeps its owner and mode.
	cat "$tmp" >"$hba"
	rm -f "$tmp"
	pg_actions+=("prepended scram-sha-256 rules for +${PG_GROUP} to $hba")
fi
# pg_hba lines that are present but not first would be shadowed by the trust
# lines: refuse to continue silently with a test bed that cannot fail a login.
first=$(grep -vE '^[[:space:]]*(#|$)' "$hba" | head -n 2)
if [[ $first != "$HBA_V4"$'\n'"$HBA_V6" && $first != "$HBA_V6"$'\n'"$HBA_V4" ]]; then
	die "the ${PG_GROUP} lines are not the first rules of $hba; move them to the top"
fi
# The rds_iam lines come right after them (before any trust line), in this
# order; anywhere else they are removed and written again.
psql_admin -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${IAM_GROUP}') THEN
    CREATE ROLE ${IAM_GROUP} NOLOGIN;
  END IF;
END \$\$;" || die "cannot create group role ${IAM_GROUP}"
first4=$(grep -vE '^[[:space:]]*(#|$)' "$hba" | head -n 4 | tail -n 2)
if [[ $first4 != "$HBA_IAM_V4"$'\n'"$HBA_IAM_V6" ]]; then
	second=$(grep -vE '^[[:space:]]*(#|$)' "$hba" | sed -n 2p)
	tmp=$(mktemp)
	grep -vxF -e "$HBA_IAM_MARKER" -e "$HBA_IAM_V4" -e "$HBA_IAM_V6" "$hba" |
		awk -v second="$second" -v block="$HBA_IAM_MARKER"$'\n'"$HBA_IAM_V4"$'\n'"$HBA_IAM_V6" \
			'{ print } !done && $0 == second { print block; done = 1 }' >"$tmp" || true
	grep -qxF "$HBA_IAM_V4" "$tmp" || die "cannot place the ${IAM_GROUP} lines in $hba"
	cat "$tmp" >"$hba"
	rm -f "$tmp"
	pg_actions+=("pam rules for +${IAM_GROUP} after them")
fi
first4=$(grep -vE '^[[:space:]]*(#|$)' "$hba" | head -n 4 | tail -n 2)
[[ $first4 == "$HBA_IAM_V4"$'\n'"$HBA_IAM_V6" ]] ||
	die "the ${IAM_GROUP} lines are not rules 3 and 4 of $hba"
psql_admin -c "SELECT pg_reload_conf()" >/dev/null || die "pg_reload_conf failed"
errs=$(psql_admin -c "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") ||
	die "cannot read pg_hba_file_rules"
[[ $errs == 0 ]] || die "$hba has $errs invalid line(s): see pg_hba_file_rules"

# --- MariaDB ----------------------------------------------------------------
maria_actions=()
if ! maria_up; then
	install -d -o mysql -g mysql -m 0755 /run/mysqld || die "cannot create /run/mysqld"
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql ||
		die "cannot start MariaDB (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd)"
	maria_actions+=("started")
fi
wait_for MariaDB maria_up

anon=$(maria_admin -e "SELECT COUNT(*) FROM mysql.global_priv WHERE User = ''") ||
	die "cannot list MariaDB accounts"
if [[ $anon != 0 ]]; then
	maria_admin -e "SELECT Host FROM mysql.global_priv WHERE User = ''" | while IFS= read -r host; do
		esc=${host//\\/\\\\}
		esc=${esc//\'/\\\'}
		maria_admin -e "DROP USER ''@'${esc}'" || die "cannot drop anonymous account ''@'$host'"
	done
	maria_actions+=("dropped $anon anonymous account(s)")
fi

# --- IAM token stand-in (iamtest) ---------------------------------------------
iam_actions=()

# write_if_changed FILE MODE: writes standard input to FILE (atomically) if
# its content differs; returns 0 if it wrote.
write_if_changed() {
	local file=$1 mode=$2 tmp
	tmp=$(mktemp "${file}.XXXXXX") || die "cannot write $file"
	cat >"$tmp"
	if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
		rm -f "$tmp"
		return 1
	fi
	chmod "$mode" "$tmp" && mv -f "$tmp" "$file" || die "cannot write $file"
	return 0
}

# The verifier, built from this checkout; replaced by rename, so that a
# running pam_exec child is never overwritten.
command -v "${GO:-go}" >/dev/null || die "go not found (needed to build iamtest/cmd/iamverify)"
install -d -m 0755 "$(dirname "$IAM_PROGRAM")" || die "cannot create $(dirname "$IAM_PROGRAM")"
newbin=$(mktemp "${IAM_PROGRAM}.XXXXXX")
CGO_ENABLED=0 "${GO:-go}" build -C "$REPO_ROOT" -trimpath -o "$newbin" ./iamtest/cmd/iamverify ||
	{ rm -f "$newbin"; die "cannot build iamtest/cmd/iamverify"; }
if [[ -x $IAM_PROGRAM ]] && cmp -s "$newbin" "$IAM_PROGRAM"; then
	rm -f "$newbin"
else
	chmod 0755 "$newbin" && mv -f "$newbin" "$IAM_PROGRAM" || die "cannot install $IAM_PROGRAM"
	iam_actions+=("installed $IAM_PROGRAM")
fi

# The key registry: anyone may add a key, only its owner may remove it.
install -d -m 0755 "$(dirname "$IAM_KEYS")" && install -d -m 1777 "$IAM_KEYS" ||
	die "cannot create $IAM_KEYS"
chmod 1777 "$IAM_KEYS"

for svc in "$IAM_PG_SERVICE:5432" "$IAM_MARIA_SERVICE:3306"; do
	if write_if_changed "/etc/pam.d/${svc%%:*}" 0644 <<PAM; then
# secretsql test bed (scripts/testbed.sh): IAM tokens verified by iamtest
auth    required pam_exec.so expose_authtok quiet $IAM_PROGRAM -keys $IAM_KEYS -port ${svc##*:}
account required pam_permit.so
PAM
		iam_actions+=("wrote /etc/pam.d/${svc%%:*}")
	fi
done

# MariaDB's TLS: a test CA and a server certificate for 127.0.0.1 and
# localhost, made again when missing or within 30 days of expiry.
install -d -m 0755 "$TLS_DIR" || die "cannot create $TLS_DIR"
if ! openssl x509 -checkend 2592000 -noout -in "$TLS_DIR/server.pem" >/dev/null 2>&1 ||
	! openssl x509 -checkend 2592000 -noout -in "$TLS_DIR/ca.pem" >/dev/null 2>&1; then
	make_certs() {
		# A subshell whose every step must succeed (set -e does not apply
		# inside a || list).
		cd "$TLS_DIR" &&
			umask 077 &&
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
				-subj "/CN=secretsql test bed CA" -keyout ca-key.pem -out ca.pem.new 2>/dev/null &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-subj "/CN=localhost" -keyout server-key.pem.new -out server.csr 2>/dev/null &&
			printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext &&
			openssl x509 -req -in server.csr -CA ca.pem.new -CAkey ca-key.pem -set_serial "0x$(openssl rand -hex 8)" \
				-days 825 -extfile server.ext -out server.pem.new 2>/dev/null &&
			rm -f server.csr server.ext &&
			chmod 0644 ca.pem.new server.pem.new &&
			chgrp mysql server-key.pem.new && chmod 0640 server-key.pem.new &&
			mv -f ca.pem.new ca.pem && mv -f server-key.pem.new server-key.pem && mv -f server.pem.new server.pem
	}
	(make_certs) || die "cannot make the test bed's certificates in $TLS_DIR"
	iam_actions+=("made a CA and MariaDB's certificate in $TLS_DIR")
fi

# MariaDB's options: TLS, and pam_use_cleartext_plugin (read-only at run
# time; read when the plugin loads). "loose-": the server starts even before
# the plugin is installed.
maria_restart=false
if write_if_changed "$MARIA_CNF" 0644 <<CNF; then
# secretsql test bed (scripts/testbed.sh): TLS and the PAM plugin for iamtest
[mariadbd]
ssl-ca = $TLS_DIR/ca.pem
ssl-cert = $TLS_DIR/server.pem
ssl-key = $TLS_DIR/server-key.pem
loose-pam-use-cleartext-plugin = ON
CNF
	maria_restart=true
fi
if ! grep -qxF "!include $MARIA_CNF" "$MARIA_MAIN_CNF"; then
	printf '\n!include %s\n' "$MARIA_CNF" >>"$MARIA_MAIN_CNF" || die "cannot include $MARIA_CNF in $MARIA_MAIN_CNF"
	maria_restart=true
fi
[[ $(maria_admin -e "SELECT @@have_ssl") == YES ]] || maria_restart=true
if $maria_restart; then
	# Keep it short: other tests share the server. Stop, wait for the
	# process to end, start as above, wait until it answers.
	pid=$(cat /run/mysqld/mysqld.pid 2>/dev/null || true)
	maria_admin -e "SHUTDOWN" || die "cannot shut MariaDB down"
	deadline=$((SECONDS + WAIT_SECONDS))
	while [[ -n $pid && -e /proc/$pid ]]; do
		((SECONDS < deadline)) || die "MariaDB (pid $pid) did not stop within ${WAIT_SECONDS}s"
		sleep 0.2
	done
	install -d -o mysql -g mysql -m 0755 /run/mysqld || die "cannot create /run/mysqld"
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql ||
		die "cannot start MariaDB again after changing $MARIA_CNF"
	wait_for MariaDB maria_up
	iam_actions+=("restarted MariaDB for $MARIA_CNF")
fi
[[ $(maria_admin -e "SELECT @@have_ssl") == YES ]] ||
	die "MariaDB has no TLS (have_ssl is not YES): see $MARIA_CNF and /var/log/mysql/error.log"

pam_status=$(maria_admin -e "SELECT PLUGIN_STATUS, PLUGIN_LIBRARY FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'pam'")
if [[ -z $pam_status ]]; then
	maria_admin -e "INSTALL SONAME 'auth_pam_v1'" || die "cannot install MariaDB's auth_pam_v1"
	iam_actions+=("installed auth_pam_v1")
elif [[ $pam_status != $'ACTIVE\tauth_pam_v1.so' ]]; then
	die "MariaDB's pam plugin is not auth_pam_v1 or not active ($pam_status): auth_pam (v2) cannot run PAM here"
fi
if [[ $(maria_admin -e "SELECT @@pam_use_cleartext_plugin") != 1 ]]; then
	# Installed before the option was set: load it again, which reads the
	# option files.
	maria_admin -e "UNINSTALL SONAME 'auth_pam_v1'; INSTALL SONAME 'auth_pam_v1'" ||
		die "cannot reload MariaDB's auth_pam_v1"
	[[ $(maria_admin -e "SELECT @@pam_use_cleartext_plugin") == 1 ]] ||
		die "MariaDB's pam_use_cleartext_plugin is not ON (see $MARIA_CNF)"
	iam_actions+=("reloaded auth_pam_v1 for pam_use_cleartext_plugin")
fi

# Prove that a wrong token is refused, with each server's own answer, and
# by the verifier: the probe token names a key of the registry whose log must
# then hold one refusal per server (a trust line, a missing PAM service or a
# server that never ran the program would not write it).
probe="iam_probe_$$_${RANDOM}"
probe_key="AKIAPROBE$(openssl rand -hex 6 | tr a-f A-F)"
probe_token() { # probe_token PORT
	echo "127.0.0.1:$1/?Action=connect&DBUser=${probe}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${probe_key}%2F20260101%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=$(printf '0%.0s' {1..64})"
}
install -m 0666 /dev/null "$IAM_KEYS/$probe_key.log" &&
	printf '{"access_key_id":"%s","secret_access_key":"not-the-signing-key","mode":"rds"}' "$probe_key" >"$IAM_KEYS/$probe_key.json" &&
	chmod 0644 "$IAM_KEYS/$probe_key.json" || die "cannot add the probe key to $IAM_KEYS"
psql_admin -c "CREATE ROLE ${probe} LOGIN IN ROLE ${IAM_GROUP}" || die "cannot create probe role ${probe}"
out=$(PGPASSWORD="$(probe_token 5432)" PGCONNECT_TIMEOUT=10 psql -X -w -h 127.0.0.1 -p 5432 -U "$probe" -d postgres -c "SELECT 1" 2>&1) && pg_probe=accepted || pg_probe=refused
psql_admin -c "DROP ROLE ${probe}" || die "cannot drop probe role ${probe}"
[[ $pg_probe == refused && $out == *"PAM authentication failed"* ]] ||
	die "PostgreSQL did not refuse a wrong token for a member of ${IAM_GROUP} through PAM: $out"
maria_admin -e "CREATE USER '${probe}'@'%' IDENTIFIED VIA pam USING '${IAM_MARIA_SERVICE}' REQUIRE SSL" ||
	die "cannot create probe user ${probe}"
out=$(mariadb --connect-timeout=10 -h127.0.0.1 -P3306 -u"$probe" --password="$(probe_token 3306)" --ssl --ssl-ca="$TLS_DIR/ca.pem" \
	-e "SELECT 1" 2>&1) && maria_probe=accepted || maria_probe=refused
maria_admin -e "DROP USER '${probe}'@'%'" || die "cannot drop probe user ${probe}"
[[ $maria_probe == refused && $out == *"ERROR 1045"* ]] ||
	die "MariaDB did not refuse a wrong token for a pam user with 1045: $out"
log=$(cat "$IAM_KEYS/$probe_key.log")
rm -f "$IAM_KEYS/$probe_key.json" "$IAM_KEYS/$probe_key.log"
for svc in "$IAM_PG_SERVICE" "$IAM_MARIA_SERVICE"; do
	[[ $log == *"\"service\":\"$svc\",\"user\":\"$probe\",\"accepted\":false,\"reason\":\"iamtest: signature mismatch"* ]] ||
		die "the verifier logged no refusal of the probe token for PAM service $svc: is $IAM_PROGRAM run by PAM? Its log: $log"
done

pg_ver=$(psql_admin -c "SHOW server_version")
maria_ver=$(maria_admin -e "SELECT VERSION()")
join() {
	local IFS=';'
	echo "${*:-already configured}" | sed 's/;/; /g'
}
echo "testbed: PostgreSQL ${pg_ver%% *} on 127.0.0.1:5432 ready ($(join "${pg_actions[@]}"))"
echo "testbed: MariaDB ${maria_ver} on 127.0.0.1:3306 ready ($(join "${maria_actions[@]}"))"
echo "testbed: IAM tokens (iamtest) through PAM on both servers; a wrong token is refused ($(join "${iam_actions[@]}"))"
