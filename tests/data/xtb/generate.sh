#!/usr/bin/env bash
# Regenerate the xtb 6.5.1 outputs under tests/data/xtb/<case>/ by running the
# real xtb, exactly as the runner does (argv shape, environment, limits), in a
# fresh temporary directory per case. Nothing here is written by hand.
#
#   tests/data/xtb/generate.sh            all cases
#   tests/data/xtb/generate.sh CASE...    only these
#
# Per case it keeps only what the parsers read (xtbout.json, charges, wbo,
# xtbopt.xyz, xtbopt.log, vibspectrum, gradient, the markers .xtboptok,
# NOT_CONVERGED, .sccnotconverged), the captured stdout.log / stderr.log, the
# input geometry.xyz, and two small files of its own:
#   cmdline    the xtb arguments used (one line)
#   exit_code  "exit_code=N", "signal=S" (the signal that ended xtb, 0 if none;
#              exit_code is -1 then), "sent_signal=S" (a signal this script
#              sent, 0 if none)
# Geometries come from tests/data/xtb/geometries/.
#
# The tests under tests/unit/xtb/ hold values read from these very files
# (energies, cycles, the xtbopt.log frame count, timings...): after
# regenerating a case, read them again and update the tables. Some outputs
# differ from run to run (timings, dates; the number of optimisation steps
# of gfn2_ohess_water was 4 or 5 steps in two runs; GFN0's failures, below).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
geo="$here/geometries"
XTB=${XTB:-/usr/bin/xtb}

# The runner's limits: unlimited stack (large molecules crash without it) and
# a 16 GiB address space (QF_XTB_MEMORY_MB). The cap also matters here: GFN0
# in 6.5.1 sometimes asks for hundreds of GB (xtb issue #670).
ulimit -s unlimited
ulimit -v $((16384 * 1024))

keep=(stdout.log stderr.log geometry.xyz xtbout.json charges wbo xtbopt.xyz xtbopt.log
      vibspectrum gradient .xtboptok NOT_CONVERGED .sccnotconverged)

want() {
	[ ${#only[@]} -eq 0 ] && return 0
	local c
	for c in "${only[@]}"; do [ "$c" = "$1" ] && return 0; done
	return 1
}

# start_xtb DIR GEOMETRY ARGS...: prepare DIR and start xtb in the background
# as the runner would; the pid is left in $xtb_pid.
start_xtb() {
	local dir=$1 g=$2
	shift 2
	cp "$geo/$g" "$dir/geometry.xyz"
	printf '$end\n' >"$dir/xcontrol.inp"
	printf '%s\n' "$*" >"$dir/cmdline"
	(
		cd "$dir"
		exec env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_STACKSIZE=1G \
			XTBPATH=/usr/share/xtb GFORTRAN_UNBUFFERED_PRECONNECTED=y \
			"$XTB" geometry.xyz --input xcontrol.inp "$@" >stdout.log 2>stderr.log
	) &
	xtb_pid=$!
}

# finish_xtb DIR SENT: wait for $xtb_pid, write DIR/exit_code.
finish_xtb() {
	local dir=$1 sent=$2 rc=0 code sig=0
	wait "$xtb_pid" || rc=$?
	code=$rc
	if [ "$rc" -gt 128 ]; then
		sig=$((rc - 128))
		code=-1
	fi
	printf 'exit_code=%s\nsignal=%s\nsent_signal=%s\n' "$code" "$sig" "$sent" >"$dir/exit_code"
	last_rc=$rc
}

# save CASE DIR: copy the interesting files of DIR into tests/data/xtb/CASE.
save() {
	local name=$1 dir=$2 f
	rm -rf "${here:?}/$name"
	mkdir -p "$here/$name"
	for f in "${keep[@]}" cmdline exit_code; do
		[ -e "$dir/$f" ] && cp "$dir/$f" "$here/$name/"
	done
	printf '%-28s exit %-4s %s\n' "$name" "$last_rc" "$(ls -A "$here/$name" | tr '\n' ' ')"
}

# run CASE GEOMETRY ARGS...: one ordinary run.
run() {
	local name=$1 g=$2 dir
	shift 2
	want "$name" || return 0
	dir=$(mktemp -d)
	start_xtb "$dir" "$g" "$@"
	finish_xtb "$dir" 0
	save "$name" "$dir"
	rm -rf "$dir"
}

# run_until CASE WANTED_RC TRIES GEOMETRY ARGS...: repeat a run in fresh
# directories until xtb exits with WANTED_RC (for GFN0, whose outcome varies
# from run to run in 6.5.1, xtb issue #670).
run_until() {
	local name=$1 wanted=$2 tries=$3 g=$4 dir i
	shift 4
	want "$name" || return 0
	for ((i = 1; i <= tries; i++)); do
		dir=$(mktemp -d)
		start_xtb "$dir" "$g" "$@"
		finish_xtb "$dir" 0
		if [ "$last_rc" = "$wanted" ]; then
			save "$name" "$dir"
			rm -rf "$dir"
			return 0
		fi
		rm -rf "$dir"
	done
	echo "$name: xtb never exited $wanted in $tries tries" >&2
	status=1
}

# run_term CASE GEOMETRY ARGS...: start, SIGTERM after 1 s, SIGKILL if still
# alive 5 s later (xtb sometimes deadlocks on SIGTERM).
run_term() {
	local name=$1 g=$2 dir sent=15 i
	shift 2
	want "$name" || return 0
	dir=$(mktemp -d)
	start_xtb "$dir" "$g" "$@"
	sleep 1
	kill -TERM "$xtb_pid"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$xtb_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$xtb_pid" 2>/dev/null; then
		kill -KILL "$xtb_pid"
		sent=9
	fi
	finish_xtb "$dir" "$sent"
	save "$name" "$dir"
	rm -rf "$dir"
}

only=("$@")
status=0

# Common part of the runner's argv: method, charge, uhf, etemp, accuracy,
# iterations, --json --norestart.
g2() { echo --gfn 2 --chrg "$1" --uhf "$2" --etemp 300 --acc 1.0 --iterations "${3:-250}" --json --norestart; }

# shellcheck disable=SC2046
{
# ---- successful runs ----------------------------------------------------
run gfn2_sp_water             water.xyz        $(g2 0 0) --grad
run gfn2_sp_caffeine          caffeine.xyz     $(g2 0 0) --grad
run gfn2_sp_caffeine_alpb     caffeine.xyz     $(g2 0 0) --alpb water --grad
run gfn1_sp_caffeine          caffeine.xyz     --gfn 1 --chrg 0 --uhf 0 --etemp 300 --acc 1.0 \
                              --iterations 250 --json --norestart --grad
# GFN0 in 6.5.1 reads uninitialised memory while setting up (xtb issue #670):
# with the runner's full argv it fails (exit 1 "Error allocating N bytes", or
# SIGSEGV) nearly always; without --etemp/--acc/--iterations (whose values are
# xtb's defaults anyway) water runs. Caffeine dies of SIGSEGV either way.
run gfn0_sp_water             water.xyz        --gfn 0 --chrg 0 --uhf 0 --json --norestart --grad
run gfnff_sp_caffeine         caffeine.xyz     --gfnff --chrg 0 --uhf 0 --etemp 300 --acc 1.0 \
                              --iterations 250 --json --norestart --grad
# GFN-FF writes no xtbout.json: frequencies come from vibspectrum
run gfnff_hess_water          water.xyz        --gfnff --chrg 0 --uhf 0 --etemp 300 --acc 1.0 \
                              --iterations 250 --json --norestart --hess
run gfn2_opt_ethanol          ethanol_distorted.xyz $(g2 0 0) --opt normal
run gfn2_ohess_water          water.xyz        $(g2 0 0) --ohess normal
# planar NH3 with stretched bonds: not a minimum (umbrella mode imaginary,
# gradient non-zero: "Hessian on incompletely optimized geometry!")
run gfn2_hess_ammonia_planar  ammonia_planar.xyz $(g2 0 0) --hess
run gfn2_sp_acetate           acetate.xyz      $(g2 -1 0) --grad
run gfn2_sp_methyl            methyl.xyz       $(g2 0 1) --grad

# ---- failures -------------------------------------------------------------
run fail_scc_caffeine         caffeine.xyz     $(g2 0 0 2) --grad
# exits 0 with .xtboptok although the optimisation did not converge
run fail_opt_cycles_ethanol   ethanol_distorted.xyz $(g2 0 0) --opt normal --cycles 2
# Li4: the first SCC converges in 29 iterations, a later one inside the
# optimisation does not (-9- Geometry optimization failed, NOT_CONVERGED)
run fail_opt_scc_li4          li4.xyz          $(g2 0 0 30) --opt normal
run fail_solvent              water.xyz        $(g2 0 0) --alpb nonsense --grad
run fail_garbage              garbage.xyz      $(g2 0 0) --grad
run fail_overlap              overlap.xyz      $(g2 0 0) --grad
# GFN0 again (see above): caffeine dies of SIGSEGV, water with the full argv
# fails to allocate.
run_until fail_gfn0_segv 139 10 caffeine.xyz   --gfn 0 --chrg 0 --uhf 0 --etemp 300 --acc 1.0 \
                              --iterations 250 --json --norestart --grad
run_until fail_gfn0_alloc 1 20 water.xyz       --gfn 0 --chrg 0 --uhf 0 --etemp 300 --acc 1.0 \
                              --iterations 250 --json --norestart --grad
# 92-atom alkane Hessian (tens of seconds), terminated after 1 s
run_term fail_sigterm_alkane  alkane.xyz       $(g2 0 0) --hess
}
exit $status
