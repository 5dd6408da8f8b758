#!/usr/bin/env bash
# Every GPU figure the README and docs promise, in one command (under 8 minutes on one H100-class
# GPU): epoch and full-evaluation time of MetaMMF and LightGCN on the full-size SYNTHETIC Kwai,
# TikTok and MovieLens stand-ins; the --amp and --compile speed-ups; host synchronizations per
# training step; an NCCL DDP run when two GPUs are present.  Without a GPU it says so and exits 0.
#
#   bash benchmarks/gpu.sh            (PYTHON=... to pick the interpreter; default .venv, python3)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu.sh: no CUDA GPU visible to torch ($PY); nothing to measure"
    exit 0
fi
status=0
"$PY" -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__, '| GPUs:', torch.cuda.device_count())"
echo; echo "## epoch and evaluation time, all stand-ins"
timeout 240 "$PY" benchmarks/train_bench.py --device cuda --models metammf,lightgcn --epochs 3 --sync-steps 20 || status=1
echo; echo "## --amp and --compile against plain (SYNTHETIC Kwai)"
timeout 180 "$PY" benchmarks/train_bench.py --device cuda --datasets kwai --models metammf,lightgcn --epochs 4 --modes plain,amp,compile || status=1
echo; echo "## NCCL DDP"
if [ "$("$PY" -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
    out=$(mktemp -d)
    timeout 120 "$PY" -m torch.distributed.run --nproc_per_node 2 cli.py train kwai --synthetic --scale 0.2 \
        --epochs 3 --device cuda --out "$out" --quiet || status=1
    rm -rf "$out"
else
    echo "one GPU: the NCCL DDP run needs two, skipped"
fi
exit $status
