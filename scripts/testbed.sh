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
#     the test users' 'name'@'%' accounts.
#
# It prints one line per server and exits non-zero if a server cannot be
# started or configured.
set -euo pipefail

readonly WAIT_SECONDS=60
readonly PG_GROUP=secretsql_test
readonly HBA_MARKER="# secretsql testbed (scripts/testbed.sh): members of ${PG_GROUP} log in by password"
readonly HBA_V4="host all +${PG_GROUP} 127.0.0.1/32 scram-sha-256"
readonly HBA_V6="host all +${PG_GROUP} ::1/128 scram-sha-256"

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

pg_ver=$(psql_admin -c "SHOW server_version")
maria_ver=$(maria_admin -e "SELECT VERSION()")
join() {
	local IFS=';'
	echo "${*:-already configured}" | sed 's/;/; /g'
}
echo "testbed: PostgreSQL ${pg_ver%% *} on 127.0.0.1:5432 ready ($(join "${pg_actions[@]}"))"
echo "testbed: MariaDB ${maria_ver} on 127.0.0.1:3306 ready ($(join "${maria_actions[@]}"))"
