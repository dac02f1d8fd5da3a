#!/usr/bin/env bash
# Runs every check CI runs, in order: the Debian packages the tests need,
# gofmt, go vet, go mod tidy, and the tests with the race detector against
# both SQLite and a real PostgreSQL (TIDINGS_TEST_POSTGRES=require; see
# migrations/dbtest).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh ./accounts/...  # the same checks, testing only these packages
#
# As root, missing packages are installed with apt-get; otherwise they are
# listed, and with CI=true that is an error. Needs no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the build and the tests need, as package or
# package:command (the package counts as present if the command is on PATH,
# for toolchains installed some other way). Add to this list as needed.
DEB_PACKAGES=(
	gcc:gcc          # cgo, for go-sqlite3 and -race
	libc6-dev
	postgresql       # server binaries for migrations/dbtest
	swaks:swaks      # SMTP interop tests (cmd/tidings/interop_smtp_test.go)
	libnet-ssleay-perl # TLS for swaks (only recommended by the package)
	python3:python3  # smtplib interop test (standard library only)
	python3-aiosmtpd # peer MTA of the outbound interop test (cmd/tidings/interop_outbound_test.go)
	isync:mbsync     # IMAP sync interop test (cmd/tidings/interop_imap_test.go)
	postfix:/usr/sbin/smtp-source # smtp-source loads the MX (cmd/tidings/interop_postfix_test.go); preseeded in packages()
	python3-slixmpp  # XMPP client interop scenarios (cmd/tidings/interop_xmpp_test.go)
	go-sendxmpp:go-sendxmpp # XMPP one-shot sender (cmd/tidings/interop_xmpp_test.go)
	prosody lua-unbound # federation peer (cmd/tidings/interop_s2s_test.go); lua-unbound (only recommended) resolves through the test's DNS server
	ejabberd:/usr/sbin/ejabberdctl # second federation peer (cmd/tidings/interop_s2s_ejabberd_test.go): an instance of its own per run, never the system service
	sieve-connect:sieve-connect # ManageSieve client (filters/managesieve/interop_test.go)
	python3-sievelib # ManageSieve client library for /usr/bin/python3 (filters/managesieve/testdata/sievelib_client.py)
	chromium:/usr/bin/chromium # headless browser of the webmail test (cmd/tidings/interop_web_test.go), driven by playwright-core (web_deps)
)

GO_TEST_TIMEOUT=${GO_TEST_TIMEOUT:-20m}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

timings=()
total_start=$(now)

# stage NAME COMMAND...: runs COMMAND, timing it; stops everything if it fails.
stage() {
	local name=$1 start status=0
	shift
	echo "==> $name"
	start=$(now)
	"$@" || status=$?
	timings+=("$(printf '%-10s %8s' "$name" "$(elapsed "$start")")")
	if ((status != 0)); then
		echo "==> $name FAILED after $(elapsed "$start") (exit status $status)" >&2
		exit "$status"
	fi
	echo "==> $name ok ($(elapsed "$start"))"
}

packages() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "not a Debian system: not checking for ${DEB_PACKAGES[*]%%:*}"
		return 0
	fi
	local missing=() entry pkg cmd
	for entry in "${DEB_PACKAGES[@]}"; do
		pkg=${entry%%:*}
		cmd=${entry#"$pkg"}
		cmd=${cmd#:}
		if [[ -n $cmd ]] && command -v "$cmd" >/dev/null 2>&1; then
			continue
		fi
		if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
			continue
		fi
		missing+=("$pkg")
	done
	if ((${#missing[@]} == 0)); then
		echo "all present: ${DEB_PACKAGES[*]%%:*}"
		return 0
	fi
	if [[ $(id -u) != 0 ]]; then
		echo "missing Debian packages: ${missing[*]}" >&2
		echo "install them with: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
		if [[ ${CI:-} == true ]]; then
			return 1
		fi
		echo "(continuing: tests that need them may be skipped or fail)" >&2
		return 0
	fi
	# postfix is wanted only for smtp-source: preseed debconf so that it
	# installs without asking, sets up no mail system and starts no daemon.
	# It conflicts with every other MTA (exim4, ...), which apt-get -y would
	# remove: leave it out then (its test skips, or fails in CI mode).
	if [[ " ${missing[*]} " == *" postfix "* ]]; then
		if [[ -e /usr/sbin/sendmail ]]; then
			echo "not installing postfix: it would replace the MTA that provides /usr/sbin/sendmail" >&2
			local keep=()
			for pkg in "${missing[@]}"; do
				[[ $pkg == postfix ]] || keep+=("$pkg")
			done
			missing=("${keep[@]}")
			((${#missing[@]} > 0)) || return 0
		else
			printf '%s\n' 'postfix postfix/main_mailer_type select No configuration' \
				'postfix postfix/mailname string localhost' | debconf-set-selections
		fi
	fi
	echo "installing: ${missing[*]}"
	apt-get update </dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
}

# web_deps installs the npm packages of the browser test
# (cmd/tidings/testdata/web: playwright-core, pinned in its
# package-lock.json) into that folder's node_modules (gitignored).
# playwright-core drives Debian's /usr/bin/chromium and never downloads a
# browser; PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD says so to anything that might.
# Without npm the test skips, and with CI=true that is an error.
web_deps() {
	local dir=cmd/tidings/testdata/web
	if ! command -v npm >/dev/null 2>&1; then
		echo "npm not found: the browser test (cmd/tidings/interop_web_test.go) will skip" >&2
		if [[ ${CI:-} == true ]]; then
			return 1
		fi
		return 0
	fi
	(cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts </dev/null)
}

gofmt_check() {
	local files
	files=$(gofmt -l .)
	if [[ -n $files ]]; then
		echo "not gofmt-formatted (run gofmt -w on them):" >&2
		echo "$files" >&2
		return 1
	fi
}

tidy_check() {
	if ! go mod tidy -diff; then
		echo "go.mod/go.sum are not tidy: run go mod tidy" >&2
		return 1
	fi
}

go_test() {
	TIDINGS_TEST_POSTGRES=require go test -race -count=1 -timeout "$GO_TEST_TIMEOUT" "${@:-./...}"
}

export CGO_ENABLED=1 # go-sqlite3 and -race need cgo; fail loudly without a C compiler

stage packages packages
stage web_deps web_deps
stage gofmt gofmt_check
stage vet go vet ./...
stage tidy tidy_check
stage test go_test "$@"

echo "==> timings"
printf '  %s\n' "${timings[@]}"
echo "  total      $(elapsed "$total_start")"
