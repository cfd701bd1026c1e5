#!/usr/bin/env bash
# Job status for snakemake-executor-plugin-cluster-generic: prints running, success or
# failed for the SLURM job id in $1, from sacct. Fails closed: a known active state reads
# running, COMPLETED success, and anything else failed (SPECIAL_EXIT, REVOKED, a state
# this script does not know, no sacct, no answer after a few tries): a job is never
# waited on forever. An empty answer is retried first (sacct can lag a fresh job).
set -uo pipefail
tries=${CLIPASGD_STATUS_TRIES:-3}
if ! command -v sacct > /dev/null 2>&1; then
  echo "status.sh: sacct not found: reporting job $1 as failed" >&2
  echo failed
  exit 0
fi
state=""
for ((i = 1; i <= tries; i++)); do
  state=$(sacct -j "$1" --format=State --noheader --parsable2 2>/dev/null | head -n 1)
  state=${state%% *}
  [ -n "$state" ] && break
  [ "$i" -lt "$tries" ] && sleep "${CLIPASGD_STATUS_WAIT:-2}"
done
case "$state" in
  COMPLETED) echo success ;;
  PENDING|RUNNING|REQUEUED|REQUEUE_FED|REQUEUE_HOLD|RESIZING|SUSPENDED|CONFIGURING|\
COMPLETING|STAGE_OUT|SIGNALING|POWER_UP_NODE|RESV_DEL_HOLD) echo running ;;
  *) echo "status.sh: job $1: sacct state '${state:-<none>}': reporting failed" >&2
     echo failed ;;
esac
