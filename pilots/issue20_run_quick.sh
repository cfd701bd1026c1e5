#!/bin/bash
# Issue 20: the three figure claims at quick, simulate (+ the clipping ablation) and verdict,
# one BLAS thread; CPU-s per step from /usr/bin/time (user+sys) into logs/issue20/.
set -u
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD/src
PY=/work/main/.venv/bin/python
mkdir -p logs/issue20
for c in "$@"; do
  ( /usr/bin/time -f "$c simulate %U+%S CPU-s %e wall" nice -n 10 $PY -m clipasgd.pipeline simulate $c --scale quick > logs/issue20/$c.log 2>&1
    /usr/bin/time -f "$c ablate %U+%S CPU-s %e wall" nice -n 10 $PY -m clipasgd.pipeline simulate $c --scale quick --ablate clipping >> logs/issue20/$c.log 2>&1
    echo "$c done" >> logs/issue20/$c.log ) &
done
wait
