# functions.sh of the klpmc guest: the interface of the livepatch selftests' functions.sh
# (tools/testing/selftests/livepatch/functions.sh: load_lp, load_mod, disable_lp, unload_lp, check_result,
# ...) for busybox ash, written for klpmc, plus the klpmc_* commands that replay a scenario file.
# The kernel log is read by the host from the guest's second serial port; check_result only marks where a
# test ends and hands its expected text to the host on the third port, which compares.

MAX_RETRIES=600
RETRY_INTERVAL=0.1
KLP_SYSFS_DIR=/sys/kernel/livepatch
SYSFS_KLP_DIR=/sys/kernel/livepatch
SYSFS_MODULE_DIR=/sys/module
SYSFS_KERNEL_DIR=/sys/kernel
SYSFS_DEBUG_DIR=/sys/kernel/debug
ksft_skip=4
KLPMC_PORT=${KLPMC_PORT:-/dev/ttyS2}

log() {
	echo "$1" > /dev/kmsg
}

skip() {
	log "SKIP: $1"
	echo "SKIP: $1" >&2
	exit $ksft_skip
}

is_root() {
	[ "$(id -u)" = 0 ] || { echo "skip all tests: must be run as root" >&2; exit $ksft_skip; }
}

has_kdir() {
	:   # the modules were built on the host
}

die() {
	log "ERROR: $1"
	echo "ERROR: $1" >&2
	exit 1
}

push_config() {
	FTRACE_ENABLED=$(cat /proc/sys/kernel/ftrace_enabled)
}

pop_config() {
	[ -n "$FTRACE_ENABLED" ] && echo "$FTRACE_ENABLED" > /proc/sys/kernel/ftrace_enabled
	return 0
}

set_dynamic_debug() {
	printf 'file kernel/livepatch/* +p\nfunc klp_try_switch_task -p\n' \
		> "$SYSFS_DEBUG_DIR/dynamic_debug/control"
}

set_ftrace_enabled() {
	local can_fail=0
	if [ "$1" = "--fail" ]; then
		can_fail=1
		shift
	fi
	local err
	err=$(echo "$1" 2>&1 > /proc/sys/kernel/ftrace_enabled)
	local result
	result=$(cat /proc/sys/kernel/ftrace_enabled)
	if [ "$result" != "$1" ]; then
		if [ $can_fail -eq 1 ]; then
			echo "livepatch: kernel.ftrace_enabled = $1: ${err##*: }" > /dev/kmsg
			return
		fi
		skip "failed to set kernel.ftrace_enabled = $1"
	fi
	echo "livepatch: kernel.ftrace_enabled = $result" > /dev/kmsg
}

cleanup() {
	pop_config
}

setup_config() {
	is_root
	has_kdir
	push_config
	set_dynamic_debug
	set_ftrace_enabled 1
	trap cleanup EXIT INT TERM HUP
}

loop_until() {
	local cmd="$*"
	local i=0
	while true; do
		eval "$cmd" && return 0
		[ $i -eq $MAX_RETRIES ] && return 1
		i=$((i + 1))
		sleep $RETRY_INTERVAL
	done
}

is_livepatch_mod() {
	local mod="$1"
	[ -f "test_modules/$mod.ko" ] || die "Can't find \"test_modules/$mod.ko\", try \"make\""
	grep -q 'livepatch=Y' "test_modules/$mod.ko"
}

insmod() {
	/bin/klpmc-guest insmod "$@"
}

rmmod() {
	/bin/klpmc-guest rmmod "$@"
}

__load_mod() {
	local mod="$1"; shift
	local msg="% insmod test_modules/$mod.ko $*"
	log "${msg% }"
	local ret
	ret=$(insmod "test_modules/$mod.ko" "$@" 2>&1)
	[ -z "$ret" ] || die "$ret"
	loop_until '[ -e "/sys/module/$mod" ]' || die "failed to load module $mod"
}

load_mod() {
	local mod="$1"; shift
	is_livepatch_mod "$mod" && die "use load_lp() to load the livepatch module $mod"
	__load_mod "$mod" "$@"
}

load_lp_nowait() {
	local mod="$1"; shift
	is_livepatch_mod "$mod" || die "module $mod is not a livepatch"
	__load_mod "$mod" "$@"
	loop_until '[ -e "/sys/kernel/livepatch/$mod" ]' || die "failed to load module $mod (sysfs)"
}

load_lp() {
	local mod="$1"; shift
	load_lp_nowait "$mod" "$@"
	loop_until 'grep -q "^0$" /sys/kernel/livepatch/$mod/transition' || die "failed to complete transition"
}

load_failing_mod() {
	local mod="$1"; shift
	local msg="% insmod test_modules/$mod.ko $*"
	log "${msg% }"
	local ret
	ret=$(insmod "test_modules/$mod.ko" "$@" 2>&1)
	[ -n "$ret" ] || die "$mod unexpectedly loaded"
	log "$ret"
}

unload_mod() {
	local mod="$1"
	loop_until '[ "$(cat "/sys/module/$mod/refcnt")" = "0" ]' || die "failed to unload module $mod (refcnt)"
	log "% rmmod $mod"
	local ret
	ret=$(rmmod "$mod" 2>&1)
	[ -z "$ret" ] || die "$ret"
	loop_until '[ ! -e "/sys/module/$mod" ]' || die "failed to unload module $mod (/sys/module)"
}

unload_lp() {
	unload_mod "$1"
}

disable_lp() {
	local mod="$1"
	log "% echo 0 > /sys/kernel/livepatch/$mod/enabled"
	echo 0 > /sys/kernel/livepatch/"$mod"/enabled
	loop_until '[ ! -e "/sys/kernel/livepatch/$mod" ]' || die "failed to disable livepatch $mod"
}

set_pre_patch_ret() {
	local mod="$1"; shift
	local ret="$1"
	log "% echo $ret > /sys/module/$mod/parameters/pre_patch_ret"
	echo "$ret" > /sys/module/"$mod"/parameters/pre_patch_ret
	loop_until '[ "$(cat "/sys/module/$mod/parameters/pre_patch_ret")" = "$ret" ]' ||
		die "failed to set pre_patch_ret parameter for $mod module"
}

KLPMC_TEST=0

start_test() {
	KLPMC_TEST=$((KLPMC_TEST + 1))
	log "@@klpmc start_test $KLPMC_TEST"
	echo "start_test $KLPMC_TEST $1" > "$KLPMC_PORT"
	echo -n "TEST: $1 ... "
	log "===== TEST: $1 ====="
}

check_result() {
	log "@@klpmc check_result $KLPMC_TEST"
	{ echo "check_result $KLPMC_TEST"; echo "$*" | sed 's/^/| /'; echo "check_result_end"; } > "$KLPMC_PORT"
	echo "checked on the host"
}

check_sysfs_rights() {
	local path="$KLP_SYSFS_DIR/$1/$2"
	local rights
	rights=$(stat -c '%A' "$path")
	[ "$rights" = "$3" ] || die "Unexpected access rights of $path: $3 vs. $rights"
}

check_sysfs_value() {
	local path="$KLP_SYSFS_DIR/$1/$2"
	local value
	value=$(cat "$path")
	[ "$value" = "$3" ] || die "Unexpected value in $path: $3 vs. $value"
}

# ---- klpmc_*: one scenario command each, with the waiting rule of klpmc's model harness: after a
# command, pending transitions are given the time to finish, unless a task blocks them (a module with a
# block_transition parameter set to Y, as test_klp_callbacks_busy has; its transitions get KLPMC_STALL
# tenths of a second, past the delayed work's second retry).

KLPMC_STALL=${KLPMC_STALL:-25}
KLPMC_SETTLE=${KLPMC_SETTLE:-200}

klpmc_note() {
	echo "note $KLPMC_TEST $*" > "$KLPMC_PORT"
}

klpmc_blocked() {
	local p
	for p in /sys/module/*/parameters/block_transition; do
		[ -e "$p" ] && [ "$(cat "$p")" = Y ] && return 0
	done
	return 1
}

klpmc_pending() {
	local t
	for t in /sys/kernel/livepatch/*/transition; do
		[ -e "$t" ] && [ "$(cat "$t" 2>/dev/null)" = 1 ] && return 0
	done
	return 1
}

klpmc_settle() {
	local i=0 limit=$KLPMC_SETTLE
	klpmc_blocked && limit=$KLPMC_STALL
	while klpmc_pending; do
		if [ $i -ge $limit ]; then
			[ $limit -eq $KLPMC_SETTLE ] && klpmc_note "a transition did not finish in $((limit / 10)) s"
			return 0
		fi
		i=$((i + 1))
		sleep 0.1
	done
	# a patch that is off and in no transition is being freed: wait until its sysfs directory is gone
	local d
	for d in /sys/kernel/livepatch/*; do
		[ -e "$d/enabled" ] || continue
		i=0
		while [ -e "$d/enabled" ] && [ "$(cat "$d/enabled" 2>/dev/null)" = 0 ] && [ $i -lt 50 ]; do
			i=$((i + 1))
			sleep 0.1
		done
	done
}

klpmc_insmod() {
	local path="$1"; shift
	local mod="${path##*/}"
	mod="${mod%.ko}"
	local msg="% insmod $path $*"
	log "${msg% }"
	local ret
	ret=$(insmod "$path" "$@" 2>&1)
	if [ -n "$ret" ]; then
		log "$ret"
	else
		loop_until '[ -e "/sys/module/$mod" ]' || klpmc_note "module $mod not in sysfs"
	fi
	klpmc_settle
}

klpmc_rmmod() {
	local mod="$1"
	local i=0
	while [ -e "/sys/module/$mod/refcnt" ] && [ "$(cat "/sys/module/$mod/refcnt")" != 0 ] && [ $i -lt 50 ]; do
		i=$((i + 1))
		sleep 0.1
	done
	log "% rmmod $mod"
	local ret
	ret=$(rmmod "$mod" 2>&1)
	if [ -n "$ret" ]; then
		klpmc_note "$ret"
	else
		loop_until '[ ! -e "/sys/module/$mod" ]' || klpmc_note "module $mod still in sysfs"
	fi
	klpmc_settle
}

klpmc_write() {
	local value="$1" path="$2"
	log "% echo $value > $path"
	local ret
	ret=$( (echo "$value" > "$path") 2>&1)
	[ -z "$ret" ] || klpmc_note "echo $value > $path: ${ret##*: }"
	klpmc_settle
}

klpmc_grep_live_patched() {
	grep 'live patched' /proc/cmdline > /dev/kmsg
	grep 'live patched' /proc/meminfo > /dev/kmsg
	return 0
}
