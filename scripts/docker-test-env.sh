#!/usr/bin/env bash
# A private, local Docker engine and a registry-free Python base image for the Docker tests.
#
# Runs on Debian bookworm as root. Everything lives under one state directory (default
# /var/tmp/wheelhouse-docker, override with WHEELHOUSE_DOCKER_STATE): the engine's data root, exec root,
# pid file, log, unix socket, daemon config and the cached root file system of the base image. The
# engine never touches /var/run/docker.sock, /var/lib/docker or /etc/docker/daemon.json, so it can run
# next to another engine on the same machine.
#
#   install     apt-get install Debian's docker.io, mmdebstrap, iptables, iproute2 (+ docker-compose v1)
#   start       start dockerd on unix://$STATE/docker.sock and wait until it answers
#   stop        stop that dockerd (TERM, wait, KILL) and clean up after it
#   base-image  build $WHEELHOUSE_TEST_BASE_IMAGE from Debian packages (mmdebstrap + docker import)
#   emulation   install QEMU's user-mode emulators and enable their binfmt handlers (qemu-user-static,
#               binfmt-support, the binfmt_misc mount), so the engine runs arm64 programs
#   arm64       emulation, then build $WHEELHOUSE_TEST_ARM64_IMAGE: the same Python image for linux/arm64
#   env         print the export lines for a shell: eval "$(scripts/docker-test-env.sh env)"
#   up          install + start + base-image + arm64, then print the export lines (what CI calls); an arm64
#               step that fails only makes the multi-architecture tests skip. WHEELHOUSE_DOCKER_ARM64=0 skips it
#   status      tell what is installed, running and built
#
# Only the export lines of `env` and `up` go to standard output; every message goes to standard error.
# `stop` keeps images and build cache in the state directory for the next `start`. The base image's root
# file system is cached as a tar under $STATE/cache: delete it to rebuild from current Debian packages.
# The arm64 root file system takes minutes to make (every package script runs under QEMU), so its tar is
# cached the same way and only the image is rebuilt from it.
#
# Facts this script is built around:
# - Use Debian's client /usr/bin/docker with DOCKER_BUILDKIT=1: it drives the engine's built-in BuildKit.
#   A newer client without the buildx plugin refuses BuildKit builds.
# - No Dockerfile may start with a `# syntax=` line: BuildKit would then pull a frontend image from a
#   registry, which fails offline. The engine's built-in Dockerfile frontend is used instead.
# - Debian's python3 is externally managed (PEP 668): install into a venv inside images
#   (`python3 -m venv /opt/venv`), never into the system interpreter.
# - The built-in Dockerfile frontend of Debian's engine (20.10) knows RUN --mount (bind, cache, tmpfs,
#   secret) and COPY --chmod, but not RUN --network, RUN --security, COPY --link or heredocs: keep a
#   build offline with `docker build --network=none`, which covers every RUN step.
# - docker-compose v1 builds by running the first `docker` on PATH: put /usr/bin first on PATH, or set
#   COMPOSE_DOCKER_CLI_BUILD=0 (classic builder through the API, no RUN --mount).
#
# Networking: containers attach to a bridge of our own ($WHEELHOUSE_DOCKER_BRIDGE, default whdocker0,
# $WHEELHOUSE_DOCKER_BRIDGE_CIDR, default 172.31.240.1/24) that `start` creates and `stop` removes; the
# host's docker0 is never touched. By default the engine runs with --iptables=false --ip-forward=false:
# it adds no firewall rules and changes no sysctl, and containers on the bridge have no route to the
# outside world (the tests build offline). A build that must reach a server on the host's 127.0.0.1
# uses `--network=host`. WHEELHOUSE_DOCKER_NAT=1 lets dockerd add its NAT rules instead; `stop` then
# removes the rules that name our bridge or subnet and, when no other dockerd runs, Docker's own chains.

set -euo pipefail

STATE="${WHEELHOUSE_DOCKER_STATE:-/var/tmp/wheelhouse-docker}"
SOCK="$STATE/docker.sock"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
DATA_ROOT="$STATE/data"
EXEC_ROOT="$STATE/exec"
CONFIG="$STATE/daemon.json"
CACHE="$STATE/cache"
DOCKER_HOST_URL="unix://$SOCK"

DOCKERD=/usr/sbin/dockerd
DOCKER=/usr/bin/docker
BRIDGE="${WHEELHOUSE_DOCKER_BRIDGE:-whdocker0}"
BRIDGE_CIDR="${WHEELHOUSE_DOCKER_BRIDGE_CIDR:-172.31.240.1/24}"
NAT="${WHEELHOUSE_DOCKER_NAT:-0}"
START_TIMEOUT="${WHEELHOUSE_DOCKER_START_TIMEOUT:-60}"
STOP_TIMEOUT="${WHEELHOUSE_DOCKER_STOP_TIMEOUT:-30}"

BASE_IMAGE="${WHEELHOUSE_TEST_BASE_IMAGE:-wheelhouse-test/python:3.11-bookworm}"
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,python3-pip
ARM64_IMAGE="${WHEELHOUSE_TEST_ARM64_IMAGE:-wheelhouse-test/python:3.11-bookworm-arm64}"
WANT_ARM64="${WHEELHOUSE_DOCKER_ARM64:-1}"
BINFMT=/proc/sys/fs/binfmt_misc
MERGED_USR_HOOKS=/usr/share/mmdebstrap/hooks/merged-usr

log() { printf '[docker-test-env] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() {
    [[ $(id -u) -eq 0 ]] || die "'$1' must run as root (dockerd, mmdebstrap --mode=root and apt-get need it)"
}

docker_cli() { "$DOCKER" -H "$DOCKER_HOST_URL" "$@"; }

engine_answers() {
    [[ -S $SOCK && -x $DOCKER ]] || return 1
    timeout 10 "$DOCKER" -H "$DOCKER_HOST_URL" info >/dev/null 2>&1
}

alive() {
    # True while process $1 exists and is not a zombie (an exited engine can linger as one until its
    # parent, often a minimal init here, reaps it).
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != [ZX] ]]
}

children_of() {
    local d stat ppid
    for d in /proc/[0-9]*; do
        stat=$(cat "$d/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        read -r _ ppid _ <<<"$stat"
        [[ $ppid == "$1" ]] && printf '%s\n' "${d#/proc/}"
    done
    return 0
}

dockerd_pid() {
    # The pid from the pid file, if that process is alive and is a dockerd.
    local pid
    [[ -f $PIDFILE ]] || return 1
    pid=$(<"$PIDFILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/comm && $(</proc/"$pid"/comm) == dockerd ]] || return 1
    alive "$pid" || return 1
    printf '%s\n' "$pid"
}

other_dockerd_running() {
    # True when a dockerd that is not ours runs on this machine.
    local ours pid
    ours=$(dockerd_pid 2>/dev/null || true)
    for pid in $(pgrep -x dockerd 2>/dev/null || true); do
        [[ $pid != "$ours" ]] && alive "$pid" && return 0
    done
    return 1
}

pids_using_state() {
    # Engine processes (dockerd, its containerd, shims, proxies) whose command line names our state dir.
    local d pid comm cmdline
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        comm=$(cat "$d/comm" 2>/dev/null) || continue
        case $comm in
        dockerd | containerd | containerd-shim* | docker-proxy | runc) ;;
        *) continue ;;
        esac
        cmdline=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
        [[ $cmdline == *"$STATE/"* ]] && printf '%s\n' "$pid"
    done
    return 0
}

with_lock() {
    # Serialise start/stop/base-image between concurrent callers.
    mkdir -p "$STATE"
    exec 9>"$STATE/lock"
    flock -w 300 9 || die "could not lock $STATE/lock within 300 s"
}

# ---------------------------------------------------------------------------------------------- install

cmd_install() {
    need_root install
    local missing=()
    [[ -x $DOCKERD && -x $DOCKER ]] || missing+=(docker.io)
    command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
    command -v iptables >/dev/null || missing+=(iptables)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v flock >/dev/null || missing+=(util-linux)
    command -v pgrep >/dev/null || missing+=(procps)
    local want_compose=1
    command -v docker-compose >/dev/null && want_compose=0
    if [[ ${#missing[@]} -eq 0 && $want_compose -eq 0 ]]; then
        log "install: everything is installed already"
        return 0
    fi

    # Keep package scripts from starting Debian's own docker/containerd services (they would listen on
    # /var/run/docker.sock); our engine is started by `start` with its own paths.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi

    log "install: apt-get update"
    apt-get update -q >&2
    if [[ ${#missing[@]} -gt 0 ]]; then
        log "install: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >&2
    fi
    if [[ $want_compose -eq 1 ]]; then
        if apt-cache show docker-compose >/dev/null 2>&1; then
            log "install: docker-compose (v1)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose >&2 \
                || log "install: docker-compose could not be installed; compose tests will be skipped"
        else
            log "install: no docker-compose package here; compose tests will be skipped"
        fi
    fi
    if [[ $made_policy -eq 1 ]]; then
        rm -f "$policy"
        trap - EXIT
    fi
    log "install: done"
}

# ---------------------------------------------------------------------------------------------- start

write_daemon_config() {
    # Our own config file, so a host /etc/docker/daemon.json can neither conflict nor leak in.
    cat >"$CONFIG" <<'JSON'
{
  "features": {"buildkit": true},
  "builder": {"gc": {"enabled": true, "defaultKeepStorage": "10GB"}},
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "2"}
}
JSON
}

ensure_bridge() {
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        return 0
    fi
    log "start: creating bridge $BRIDGE ($BRIDGE_CIDR)"
    ip link add name "$BRIDGE" type bridge
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    : >"$STATE/bridge.created"
}

cmd_start() {
    need_root start
    [[ -x $DOCKERD && -x $DOCKER ]] || die "no $DOCKERD or $DOCKER: run '$0 install' first"
    with_lock
    local pid
    if dockerd_pid >/dev/null && engine_answers; then
        log "start: dockerd already running (pid $(dockerd_pid)) on $DOCKER_HOST_URL"
        return 0
    fi
    if pid=$(dockerd_pid); then
        # Alive but not answering: maybe still starting. Give it the usual time before giving up.
        log "start: dockerd pid $pid exists but does not answer yet; waiting"
        wait_for_engine "$pid" && return 0
        die "dockerd pid $pid does not answer on $DOCKER_HOST_URL; run '$0 stop' and try again"
    fi
    # A previous engine died or was killed: clear what it left behind.
    cleanup_leftovers

    mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$CACHE"
    write_daemon_config
    ensure_bridge

    local net_flags=(--iptables=false --ip-forward=false --ip-masq=false)
    if [[ $NAT == 1 ]]; then
        cat /proc/sys/net/ipv4/ip_forward >"$STATE/ip_forward.orig"
        iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}' >"$STATE/forward_policy.orig" || true
        : >"$STATE/nat.enabled"
        net_flags=(--iptables=true --ip-forward=true --ip-masq=true)
    fi

    log "start: dockerd on $DOCKER_HOST_URL (log: $LOG)"
    printf '\n===== %s start =====\n' "$(date -u +%FT%TZ)" >>"$LOG"
    # setsid: the engine outlives this shell and its job control; no stdin.
    setsid "$DOCKERD" \
        --config-file "$CONFIG" \
        --data-root "$DATA_ROOT" \
        --exec-root "$EXEC_ROOT" \
        --pidfile "$PIDFILE" \
        -H "$DOCKER_HOST_URL" \
        --bridge "$BRIDGE" \
        "${net_flags[@]}" \
        </dev/null >>"$LOG" 2>&1 9>&- &
    pid=$!
    wait_for_engine "$pid" || {
        log "start: dockerd did not answer within ${START_TIMEOUT}s; last log lines:"
        tail -n 40 "$LOG" >&2 || true
        exit 1
    }
    log "start: dockerd running (pid $(dockerd_pid || echo "$pid")), server $(docker_cli version --format '{{.Server.Version}}' 2>/dev/null)"
}

wait_for_engine() {
    local pid=$1 waited=0
    while ((waited < START_TIMEOUT * 2)); do
        if engine_answers; then
            return 0
        fi
        if ! alive "$pid"; then
            log "start: dockerd (pid $pid) exited; last log lines:"
            tail -n 40 "$LOG" >&2 || true
            exit 1
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    return 1
}

# ---------------------------------------------------------------------------------------------- stop

unmount_state() {
    # Overlay, shm and netns mounts the engine may leave under the state dir, deepest first.
    local mp
    awk -v prefix="$STATE/" 'index($2, prefix) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r mp; do
        mp=$(printf '%b' "$mp") # /proc/mounts escapes spaces as \040
        umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "cleanup: could not unmount $mp"
    done
}

clean_iptables() {
    # Only after a start with WHEELHOUSE_DOCKER_NAT=1: dockerd leaves its rules behind when it stops.
    [[ -f $STATE/nat.enabled ]] || return 0
    command -v iptables >/dev/null || return 0
    local subnet table rule
    subnet=$(ip -4 route show dev "$BRIDGE" 2>/dev/null | awk '/proto kernel/ {print $1; exit}' || true)
    for table in filter nat; do
        # Rules that name our bridge or subnet are ours whatever else runs.
        iptables -t "$table" -S 2>/dev/null | grep -E '^-A ' | grep -F -e "$BRIDGE" ${subnet:+-e "$subnet"} \
            | while read -r rule; do
                # shellcheck disable=SC2086 # the rule is a list of iptables words
                iptables -t "$table" -D ${rule#-A } 2>/dev/null || true
            done || true # no rule of ours in this table
    done
    if other_dockerd_running; then
        log "cleanup: another dockerd runs here; leaving Docker's shared iptables chains in place"
    else
        for rule in "FORWARD -j DOCKER-USER" "FORWARD -j DOCKER-ISOLATION-STAGE-1"; do
            # shellcheck disable=SC2086
            while iptables -t filter -D $rule 2>/dev/null; do :; done
        done
        # shellcheck disable=SC2086
        while iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null; do :; done
        # shellcheck disable=SC2086
        while iptables -t nat -D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null; do :; done
        local chain
        for table in filter nat; do
            for chain in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do
                iptables -t "$table" -n -L "$chain" >/dev/null 2>&1 || continue
                iptables -t "$table" -F "$chain" 2>/dev/null || true
                # A chain still referenced by a rule we did not write stays (empty): -X fails then.
                iptables -t "$table" -X "$chain" 2>/dev/null || log "cleanup: left iptables chain $table/$chain in place"
            done
        done
        if [[ -s $STATE/forward_policy.orig ]]; then
            iptables -P FORWARD "$(<"$STATE/forward_policy.orig")" 2>/dev/null || true
        fi
        if [[ -s $STATE/ip_forward.orig ]]; then
            cat "$STATE/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward 2>/dev/null || true
        fi
    fi
    rm -f "$STATE/nat.enabled" "$STATE/ip_forward.orig" "$STATE/forward_policy.orig"
}

cleanup_leftovers() {
    # After a crash or a KILL: the engine's containerd and container shims outlive it. A shim's children
    # are the init processes of containers; ending them ends each container's whole pid namespace.
    local pid child
    for pid in $(pids_using_state); do
        log "cleanup: ending leftover process $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | cut -c1-80))"
        if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == containerd-shim* ]]; then
            for child in $(children_of "$pid"); do
                kill -KILL "$child" 2>/dev/null || true
            done
        fi
        kill -KILL "$pid" 2>/dev/null || true
    done
    unmount_state
    clean_iptables
    if [[ -f $STATE/bridge.created ]]; then
        ip link del "$BRIDGE" 2>/dev/null || true
        rm -f "$STATE/bridge.created"
    fi
    rm -f "$SOCK" "$PIDFILE"
}

cmd_stop() {
    need_root stop
    [[ -d $STATE ]] || { log "stop: nothing to stop ($STATE does not exist)"; return 0; }
    with_lock
    local pid waited=0
    if pid=$(dockerd_pid); then
        log "stop: stopping dockerd pid $pid"
        kill -TERM "$pid" 2>/dev/null || true
        while alive "$pid" && ((waited < STOP_TIMEOUT * 2)); do
            sleep 0.5
            waited=$((waited + 1))
        done
        if alive "$pid"; then
            log "stop: dockerd did not exit within ${STOP_TIMEOUT}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
        fi
    else
        log "stop: dockerd is not running"
    fi
    cleanup_leftovers
    log "stop: stopped; images and build cache stay in $DATA_ROOT for the next start"
}

# ---------------------------------------------------------------------------------------------- base image

cmd_base_image() {
    need_root base-image
    engine_answers || die "the engine does not answer on $DOCKER_HOST_URL: run '$0 start' first"
    with_lock
    if docker_cli image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        log "base-image: $BASE_IMAGE exists already"
        return 0
    fi
    command -v mmdebstrap >/dev/null || die "no mmdebstrap: run '$0 install' first"
    mkdir -p "$CACHE"
    local rootfs="$CACHE/rootfs-$SUITE-${BASE_PACKAGES//,/-}.tar"
    if [[ ! -s $rootfs ]]; then
        log "base-image: building a $SUITE root file system with $BASE_PACKAGES (mmdebstrap, ~20 s)"
        local tmp="$rootfs.tmp.$$"
        # --mode=root: we are root, so no user namespace or subuid setup is needed.
        # Man pages, docs and translations are left out to keep the image small (copyright files stay).
        if ! mmdebstrap --mode=root --variant=minbase \
            --hook-dir="$MERGED_USR_HOOKS" \
            --include="$BASE_PACKAGES" \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --aptopt='Acquire::Retries "3"' \
            --format=tar "$SUITE" "$tmp" >"$CACHE/mmdebstrap.log" 2>&1; then
            rm -f "$tmp"
            tail -n 30 "$CACHE/mmdebstrap.log" >&2
            die "mmdebstrap failed (full log: $CACHE/mmdebstrap.log)"
        fi
        mv "$tmp" "$rootfs"
    else
        log "base-image: using cached root file system $rootfs"
    fi
    log "base-image: docker import as $BASE_IMAGE"
    docker_cli import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
        --change "LABEL org.opencontainers.image.description=\"Debian $SUITE with $BASE_PACKAGES, built by mmdebstrap\"" \
        --change 'WORKDIR /' \
        --change 'CMD ["python3"]' \
        --message "mmdebstrap $SUITE $BASE_PACKAGES" \
        "$rootfs" "$BASE_IMAGE" >/dev/null
    # Prove the image does what the project's Dockerfiles rely on.
    local check
    if ! check=$(docker_cli run --rm --network=none "$BASE_IMAGE" \
        sh -ec 'python3 -m venv /opt/venv && /opt/venv/bin/python -c "import sys; print(sys.version.split()[0])" && /opt/venv/bin/pip --version' 2>&1); then
        printf '%s\n' "$check" >&2
        docker_cli image rm "$BASE_IMAGE" >/dev/null 2>&1 || true
        die "the new image cannot create a venv"
    fi
    log "base-image: $BASE_IMAGE ready: $(printf '%s' "$check" | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------- arm64

cmd_emulation() {
    need_root emulation
    # arch-test: mmdebstrap needs it to build a root file system of another architecture.
    if [[ ! -x /usr/bin/qemu-aarch64-static ]] || ! command -v update-binfmts >/dev/null \
        || ! command -v arch-test >/dev/null; then
        log "emulation: apt-get install qemu-user-static binfmt-support arch-test"
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            qemu-user-static binfmt-support arch-test >&2
    fi
    if [[ ! -e $BINFMT/register ]]; then
        log "emulation: mounting binfmt_misc on $BINFMT"
        mount -t binfmt_misc binfmt_misc "$BINFMT" || die "cannot mount binfmt_misc (a container without the privilege?)"
    fi
    if [[ ! -e $BINFMT/qemu-aarch64 ]] || ! grep -qx enabled "$BINFMT/qemu-aarch64"; then
        update-binfmts --enable >&2 || true
    fi
    [[ -e $BINFMT/qemu-aarch64 ]] && grep -qx enabled "$BINFMT/qemu-aarch64" \
        || die "the qemu-aarch64 binfmt handler is not enabled after update-binfmts --enable"
    # The handler must be loaded now (flag F): containers cannot see the host's /usr/bin/qemu-aarch64-static.
    grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" \
        || log "emulation: warning: qemu-aarch64 lacks the F flag; containers may fail to start arm64 programs"
    log "emulation: arm64 programs run under $(awk '/^interpreter/ {print $2}' "$BINFMT/qemu-aarch64")"
}

arm64_image_ok() {
    # The image exists, is labelled linux/arm64, and its python3 says aarch64.
    local label machine
    label=$(docker_cli image inspect --format '{{.Os}}/{{.Architecture}}' "$ARM64_IMAGE" 2>/dev/null) || return 1
    [[ $label == linux/arm64 ]] || return 1
    machine=$(docker_cli run --rm --network=none "$ARM64_IMAGE" python3 -c 'import platform; print(platform.machine())' 2>/dev/null) || return 1
    [[ $machine == aarch64 ]]
}

cmd_arm64() {
    need_root arm64
    engine_answers || die "the engine does not answer on $DOCKER_HOST_URL: run '$0 start' first"
    cmd_emulation
    with_lock
    if arm64_image_ok; then
        log "arm64: $ARM64_IMAGE exists already"
        return 0
    fi
    command -v mmdebstrap >/dev/null || die "no mmdebstrap: run '$0 install' first"
    mkdir -p "$CACHE"
    local rootfs="$CACHE/rootfs-$SUITE-arm64-${BASE_PACKAGES//,/-}.tar"
    if [[ ! -s $rootfs ]]; then
        log "arm64: building a $SUITE arm64 root file system with $BASE_PACKAGES (mmdebstrap under QEMU, ~4 min)"
        local tmp="$rootfs.tmp.$$"
        if ! mmdebstrap --mode=root --variant=minbase --arch=arm64 \
            --hook-dir="$MERGED_USR_HOOKS" \
            --include="$BASE_PACKAGES" \
            --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' \
            --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-include=/usr/share/doc/*/copyright' \
            --aptopt='Acquire::Retries "3"' \
            --format=tar "$SUITE" "$tmp" >"$CACHE/mmdebstrap-arm64.log" 2>&1; then
            rm -f "$tmp"
            tail -n 30 "$CACHE/mmdebstrap-arm64.log" >&2
            die "mmdebstrap --arch=arm64 failed (full log: $CACHE/mmdebstrap-arm64.log)"
        fi
        mv "$tmp" "$rootfs"
    else
        log "arm64: using cached root file system $rootfs"
    fi
    # `docker import --platform linux/arm64` labels the image linux/amd64 on Docker 20.10, and BuildKit then
    # looks for a linux/arm64 image in a registry: build it FROM scratch with --platform instead.
    local dir
    dir=$(mktemp -d "$STATE/arm64-build.XXXXXX")
    ln "$rootfs" "$dir/rootfs.tar" 2>/dev/null || cp "$rootfs" "$dir/rootfs.tar"
    cat >"$dir/Dockerfile" <<'DOCKERFILE'
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
CMD ["python3"]
DOCKERFILE
    log "arm64: docker build --platform linux/arm64 -t $ARM64_IMAGE"
    if ! DOCKER_BUILDKIT=1 docker_cli build --network=none --platform linux/arm64 -t "$ARM64_IMAGE" \
        --label "org.opencontainers.image.description=Debian $SUITE arm64 with $BASE_PACKAGES, built by mmdebstrap" \
        "$dir" >"$CACHE/arm64-build.log" 2>&1; then
        rm -rf "$dir"
        tail -n 30 "$CACHE/arm64-build.log" >&2
        die "docker build of $ARM64_IMAGE failed (log: $CACHE/arm64-build.log)"
    fi
    rm -rf "$dir"
    arm64_image_ok || die "$ARM64_IMAGE does not run python3 as aarch64"
    log "arm64: $ARM64_IMAGE ready (linux/arm64, python3 runs under QEMU)"
}

# ---------------------------------------------------------------------------------------------- env, status

cmd_env() {
    printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST_URL"
    printf 'export WHEELHOUSE_DOCKER_CLIENT=%q\n' "$DOCKER"
    printf 'export DOCKER_BUILDKIT=1\n'
    printf 'export WHEELHOUSE_TEST_BASE_IMAGE=%q\n' "$BASE_IMAGE"
    printf 'export WHEELHOUSE_TEST_ARM64_IMAGE=%q\n' "$ARM64_IMAGE"
}

cmd_status() {
    local rc=0 pid
    printf 'state dir:   %s\n' "$STATE"
    printf 'socket:      %s\n' "$DOCKER_HOST_URL"
    printf 'client:      %s (%s)\n' "$DOCKER" "$([[ -x $DOCKER ]] && "$DOCKER" --version 2>/dev/null || echo 'not installed')"
    printf 'compose:     %s\n' "$(command -v docker-compose >/dev/null && docker-compose version --short 2>/dev/null || echo 'not installed')"
    printf 'mmdebstrap:  %s\n' "$(command -v mmdebstrap >/dev/null && mmdebstrap --version 2>/dev/null || echo 'not installed')"
    if pid=$(dockerd_pid) && engine_answers; then
        printf 'dockerd:     running, pid %s, server %s\n' "$pid" "$(docker_cli version --format '{{.Server.Version}}' 2>/dev/null)"
        if docker_cli image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
            printf 'base image:  %s (%s)\n' "$BASE_IMAGE" "$(docker_cli image inspect --format '{{.Id}} {{.Size}} bytes' "$BASE_IMAGE")"
        else
            printf 'base image:  %s missing (run base-image)\n' "$BASE_IMAGE"
            rc=1
        fi
    else
        printf 'dockerd:     not running\n'
        rc=1
    fi
    printf 'emulation:   %s\n' "$([[ -e $BINFMT/qemu-aarch64 ]] && head -n 1 "$BINFMT/qemu-aarch64" || echo 'no qemu-aarch64 handler (run emulation)')"
    if engine_answers && docker_cli image inspect "$ARM64_IMAGE" >/dev/null 2>&1; then
        printf 'arm64 image: %s (%s)\n' "$ARM64_IMAGE" "$(docker_cli image inspect --format '{{.Os}}/{{.Architecture}}' "$ARM64_IMAGE")"
    else
        printf 'arm64 image: %s missing (run arm64)\n' "$ARM64_IMAGE"
    fi
    printf 'bridge:      %s %s\n' "$BRIDGE" "$(ip -br -4 addr show "$BRIDGE" 2>/dev/null | awk '{print $3}' || true)"
    printf 'nat rules:   %s\n' "$([[ -f $STATE/nat.enabled ]] && echo "on (WHEELHOUSE_DOCKER_NAT=1)" || echo off)"
    printf 'rootfs tar:  %s\n' "$(find "$CACHE" -maxdepth 1 -name 'rootfs-*.tar' 2>/dev/null | head -n 1 || true)"
    return "$rc"
}

usage() {
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

main() {
    local cmd=${1:-}
    case $cmd in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    base-image) cmd_base_image ;;
    emulation) cmd_emulation ;;
    arm64) cmd_arm64 ;;
    env) cmd_env ;;
    up)
        cmd_install
        cmd_start
        cmd_base_image
        if [[ $WANT_ARM64 == 1 ]]; then
            # In a subshell: its `die` must not stop the rest; the arm64 tests then skip and say why. The
            # lock base-image took is released first, or the subshell would wait for its own parent.
            exec 9>&-
            (cmd_arm64) || log "arm64: not available; the multi-architecture tests will be skipped"
        fi
        cmd_env
        ;;
    status) cmd_status ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
    esac
}

main "$@"
