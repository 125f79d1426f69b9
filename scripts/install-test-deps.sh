#!/usr/bin/env bash
# Installs what `make test` needs beyond Go: Debian's chromium, which the
# explorer's browser tests (test/e2e/explorer_test.go) drive headless.
#
# Idempotent and quick when everything is present. It never fails the build:
# without root or apt-get it prints why it installed nothing, and the browser
# tests then skip with their own message.
set -uo pipefail

have_chromium() {
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}

if have_chromium; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-test-deps: chromium is missing and this is not root: not installing it; the explorer browser tests will skip (install Debian's chromium to run them)"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: chromium is missing and there is no apt-get: the explorer browser tests will skip"
	exit 0
fi

echo "install-test-deps: installing chromium with apt-get (for the explorer browser tests)"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be absent (a fresh container) or stale (the
# candidate version gone from the mirror): update them once when the first
# attempt fails.
install() {
	apt-get install -y -q --no-install-recommends chromium >/tmp/install-test-deps.log 2>&1
}
if ! install; then
	apt-get update -q >>/tmp/install-test-deps.log 2>&1
	if ! install; then
		echo "install-test-deps: apt-get install chromium failed (log: /tmp/install-test-deps.log); the explorer browser tests will skip"
		exit 0
	fi
fi
if have_chromium; then
	echo "install-test-deps: chromium installed: $(chromium --version 2>/dev/null || echo unknown version)"
else
	echo "install-test-deps: apt-get reported success but chromium is not on PATH; the explorer browser tests will skip"
fi
exit 0
