#!/usr/bin/env bash
# Install the Debian packages the integration suite drives unchanged (issue 4, "Real clients"):
# crowdsec 1.4.6 (agent + cscli), crowdsec-firewall-bouncer, crowdsec-custom-bouncer, nftables.
#
# - Skips silently when not root or without apt-get/dpkg (tests then skip, naming the package).
# - crowdsec's post-install registers to the Central API, which fails offline and leaves the
#   package half-configured. Debian's documented opt-out is a non-empty
#   /etc/crowdsec/online_api_credentials.yaml created beforehand, so we pre-seed one (never
#   overwriting real credentials); apt's exit status is then only advisory: what counts is
#   whether the binaries exist afterwards. `dpkg --configure -a` runs before and after so an
#   interrupted or half-configured dpkg never blocks later apt runs.
# - Services are not started during the install (temporary policy-rc.d when none exists), and
#   any crowdsec/bouncer daemon running from the system configuration is stopped, so nothing
#   holds the ports the tests use.
# - When apt fails hard, falls back to `apt-get download` + `dpkg -x` into $CW_CI_PKG_DIR
#   (forced with CW_CI_FORCE_UNPACK=1, to test this path on a machine that has the packages).
#
# Prints, on stdout, extra directories for PATH (only in the fallback case); logs go to stderr.
set -uo pipefail

PACKAGES=(crowdsec crowdsec-firewall-bouncer crowdsec-custom-bouncer nftables)
BINARIES=(crowdsec cscli crowdsec-firewall-bouncer crowdsec-custom-bouncer nft)
PKG_DIR="${CW_CI_PKG_DIR:-/var/cache/crowdwatch-ci/debs}"
CAPI=/etc/crowdsec/online_api_credentials.yaml

log() { echo "ci-packages: $*" >&2; }

missing() {
    local b out=()
    for b in "${BINARIES[@]}"; do
        command -v "$b" >/dev/null 2>&1 || [ -x "/usr/bin/$b" ] || [ -x "/usr/sbin/$b" ] || out+=("$b")
    done
    echo "${out[*]}"
}

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
    -o DPkg::Lock::Timeout=120)

# No service starts from maintainer scripts while we install (standard container practice).
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# temporary, from crowdwatch scripts/ci-packages.sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
fi

# Offline: opt out of Central API registration the way README.Debian documents.
mkdir -p /etc/crowdsec
if [ ! -s "$CAPI" ]; then
    echo "# no Central API credentials on purpose: offline CI (crowdwatch scripts/ci-packages.sh)" >"$CAPI"
fi

dpkg --configure -a >&2 || log "dpkg --configure -a failed (continuing)"

if [ -n "$(missing)" ]; then
    log "installing ${PACKAGES[*]} (missing: $(missing))"
    apt-get update -q >&2 || log "apt-get update failed (continuing)"
    apt-get install "${APT_OPTS[@]}" "${PACKAGES[@]}" >&2 ||
        log "apt-get install reported an error; checking the binaries"
    dpkg --configure -a >&2 || log "dpkg --configure -a failed (continuing)"
fi

# Stop daemons started from the system configuration (tests run their own, on free ports).
for svc in crowdsec crowdsec-firewall-bouncer crowdsec-custom-bouncer; do
    if [ -d /run/systemd/system ] && systemctl is-active --quiet "$svc" 2>/dev/null; then
        log "stopping $svc.service"
        systemctl stop "$svc" >&2 || true
    elif [ -x "/etc/init.d/$svc" ]; then
        "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
done
if command -v pgrep >/dev/null 2>&1; then
    for pid in $(pgrep -f '^/usr/bin/crowdsec(-firewall-bouncer|-custom-bouncer)? -c /etc/crowdsec/' || true); do
        log "stopping system daemon pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
        kill "$pid" 2>/dev/null || true
    done
fi

still="$(missing)"
[ -z "$still" ] && [ -z "${CW_CI_FORCE_UNPACK:-}" ] && exit 0 # (CW_CI_FORCE_UNPACK: test the fallback)

# Fallback: unpack the .debs (no maintainer scripts) and hand their bin directories to PATH.
log "apt could not provide: $still; falling back to apt-get download + dpkg -x into $PKG_DIR"
mkdir -p "$PKG_DIR" && cd "$PKG_DIR" || exit 0
rm -rf ./*.deb root bin
mkdir -p root
wanted=("${PACKAGES[@]}")
for lib in libnftables1 libnftnl11 libjansson4 libmnl0 libxtables12; do
    dpkg -s "$lib" >/dev/null 2>&1 || wanted+=("$lib")
done
for pkg in "${wanted[@]}"; do
    apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2 || log "apt-get download $pkg failed"
done
for deb in ./*.deb; do
    [ -e "$deb" ] && dpkg -x "$deb" root
done
bin="$PKG_DIR/bin"
mkdir -p "$bin"
for b in "${BINARIES[@]}"; do
    [ "$b" = nft ] && continue # wrapped below
    for d in usr/bin usr/sbin; do
        [ -x "root/$d/$b" ] && ln -sf "$PKG_DIR/root/$d/$b" "$bin/$b"
    done
done
if [ -x root/usr/sbin/nft ]; then # nft may need its unpacked libraries
    libs=""
    for d in "$PKG_DIR"/root/usr/lib/*-linux-gnu "$PKG_DIR"/root/lib/*-linux-gnu; do
        [ -d "$d" ] && libs="${libs:+$libs:}$d"
    done
    if [ -n "$libs" ]; then
        printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
            "$libs" "$PKG_DIR/root/usr/sbin/nft" >"$bin/nft"
        chmod 755 "$bin/nft"
    else
        ln -sf "$PKG_DIR/root/usr/sbin/nft" "$bin/nft"
    fi
fi
echo "$bin"
