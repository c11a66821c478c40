#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Written by hand for klpmc's tests in the shape --emit-selftest gives: the upstream model, preset small,
# rule objects-cleaned-before-free (every object whose pre_patch succeeded gets post_unpatch before its
# patch is freed). P2 replaces P1; P1's post_unpatch never runs (by design, cumulative-patches.rst).

. $(dirname $0)/functions.sh

MOD_P1=test_klpmc_P1
MOD_P2=test_klpmc_P2

setup_config

start_test "objects-cleaned-before-free"

load_lp $MOD_P1
load_lp $MOD_P2

check_result "% insmod test_modules/$MOD_P1.ko
livepatch: enabling patch '$MOD_P1'
livepatch: '$MOD_P1': initializing patching transition
$MOD_P1: pre_patch_callback: vmlinux
livepatch: '$MOD_P1': starting patching transition
livepatch: '$MOD_P1': completing patching transition
$MOD_P1: post_patch_callback: vmlinux
livepatch: '$MOD_P1': patching complete
% insmod test_modules/$MOD_P2.ko
livepatch: enabling patch '$MOD_P2'
livepatch: '$MOD_P2': initializing patching transition
$MOD_P2: pre_patch_callback: vmlinux
livepatch: '$MOD_P2': starting patching transition
livepatch: '$MOD_P2': completing patching transition
$MOD_P2: post_patch_callback: vmlinux
livepatch: '$MOD_P2': patching complete"

disable_lp $MOD_P2
unload_lp $MOD_P2
unload_lp $MOD_P1

exit 0
