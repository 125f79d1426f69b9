#!/usr/bin/env bash
# Installs what `make test` needs beyond Go:
#   - Debian's chromium, which the explorer's browser tests
#     (test/e2e/explorer_test.go) drive headless;
#   - iproute2 (the `ip` command), with which the chaos lab
#     (internal/chaos/lab) runs each node in its own network namespace and
#     cuts real partitions between them (as root).
#
# Idempotent and quick when everything is present. It never fails the build:
# without root or apt-get it prints why it installed nothing, and the tests
# that need the missing tool then skip with their own message.
set -uo pipefail

have_chromium() {
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}
have_ip() {
	command -v ip >/dev/null 2>&1
}

# What is missing: Debian package name, and who skips without it.
packages=()
why=()
if ! have_chromium; then
	packages+=(chromium)
	why+=("the explorer browser tests")
fi
# Namespaces need root anyway: without root the lab tests skip whether or
# not ip is installed, so iproute2 is only worth installing as root.
if ! have_ip && [ "$(id -u)" -eq 0 ]; then
	packages+=(iproute2)
	why+=("the chaos lab's network namespace tests")
fi
if [ ${#packages[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-test-deps: ${packages[*]} missing and this is not root: not installing; ${why[*]} will skip (install Debian's ${packages[*]} to run them)"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: ${packages[*]} missing and there is no apt-get: ${why[*]} will skip"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=/tmp/install-test-deps.log
: >"$log"
updated=no
# install PACKAGE: apt-get install, updating the package lists once when the
# first attempt fails (absent in a fresh container, or stale: the
# candidate version gone from the mirror).
install() {
	if apt-get install -y -q --no-install-recommends "$1" >>"$log" 2>&1; then
		return 0
	fi
	if [ "$updated" = no ]; then
		updated=yes
		apt-get update -q >>"$log" 2>&1
		apt-get install -y -q --no-install-recommends "$1" >>"$log" 2>&1
		return $?
	fi
	return 1
}

for i in "${!packages[@]}"; do
	pkg=${packages[$i]}
	echo "install-test-deps: installing $pkg with apt-get (for ${why[$i]})"
	if ! install "$pkg"; then
		echo "install-test-deps: apt-get install $pkg failed (log: $log); ${why[$i]} will skip"
		continue
	fi
	case $pkg in
	chromium)
		if have_chromium; then
			echo "install-test-deps: chromium installed: $(chromium --version 2>/dev/null || echo unknown version)"
		else
			echo "install-test-deps: apt-get reported success but chromium is not on PATH; the explorer browser tests will skip"
		fi
		;;
	iproute2)
		if have_ip; then
			echo "install-test-deps: iproute2 installed: $(ip -V 2>/dev/null || echo unknown version)"
		else
			echo "install-test-deps: apt-get reported success but ip is not on PATH; the chaos lab tests will skip"
		fi
		;;
	esac
done
exit 0
