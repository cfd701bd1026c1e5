#!/usr/bin/env bash
# Job status for snakemake-executor-plugin-cluster-generic: prints running, success or
# failed for the SLURM job id in $1 (from sacct; unknown or pending states read running).
set -euo pipefail
state=$(sacct -j "$1" --format=State --noheader --parsable2 2>/dev/null | head -n 1 || true)
case "${state%% *}" in
  COMPLETED) echo success ;;
  FAILED|CANCELLED*|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE) echo failed ;;
  *) echo running ;;
esac
