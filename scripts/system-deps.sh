#!/usr/bin/env bash
# Debian packages some tests need: a PostgreSQL server (workers over a shared database)
# and Chromium (the web page's browser test). Installed only when missing and when we can
# (root with apt-get). Otherwise their tests skip and say why, except in CI (CI set and not
# false/0): there a package still missing fails here, before the tests, and in the tests too.
set -u
missing=()
check() {
  missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
}
in_ci() {
  case "$(echo "${CI:-}" | tr '[:upper:]' '[:lower:]')" in ""|0|false|no) return 1 ;; *) return 0 ;; esac
}
check
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "system-deps: apt-get failed for ${missing[*]}" >&2
  check
  [ ${#missing[@]} -eq 0 ] && exit 0
else
  echo "system-deps: not installing ${missing[*]} (needs root and apt-get)" >&2
fi
if in_ci; then
  echo "system-deps: CI=${CI} and ${missing[*]} missing: failing (their tests must run in CI)" >&2
  exit 1
fi
echo "system-deps: ${missing[*]} missing; their tests will skip (listed in the pytest summary)" >&2
exit 0
