#!/usr/bin/env bash
# The arms of the SelfMIS ablations, from the registered selfmis-lead1 (run C), same seed,
# same SigLIP batches and crops, same schedule; run from the repository root with ECGFM_CACHE
# set. Usage: bash artifacts/selfmis-v2/train_arms.sh STEPS cmsc|plain|rr|rr3x16
# (rr, rr3x16: session 7, artifacts/selfmis-v3/README.md; they need the optional neurokit2)
set -euo pipefail
steps=$1
arm=$2
common=(--ptbxl-root ../shared/data/ptbxl --synthetic 2000
  --teacher artifacts/selfmis-dev/teacher.safetensors --teacher-arch net1d_ecgfounder
  --teacher-args '{"filter_list":[32,80,80,208,208,512,512],"base_filters":32}'
  --student-arch net1d_ecgfounder_lead1 --student-init weights/selfmis-lead1.safetensors
  --crop-samples 2500 --batch-size 16 --steps "$steps" --lr 1e-4 --warmup-steps 20
  --val-every 100 --save-every 50 --threads 1 --export-dtype bfloat16)
case $arm in
  cmsc) extra=(--cmsc-weight 1.0 --cinc-root ../shared/data/cinc2017 --cmsc-ptbxl
               --cmsc-batch-size 8 --cmsc-seconds 5) ;;
  plain) extra=() ;;
  rr) extra=(--rr-weight 1.0 --cinc-root ../shared/data/cinc2017 --cmsc-ptbxl
             --rr-batch-size 8) ;;
  rr3x16) extra=(--rr-weight 3.0 --cinc-root ../shared/data/cinc2017 --cmsc-ptbxl
                 --rr-batch-size 16) ;;
  *) echo "arm must be cmsc, plain, rr or rr3x16" >&2; exit 2 ;;
esac
exec python -m torch.distributed.run --nproc_per_node 2 --master_port "$((29500 + ${#arm}))" \
  examples/train_selfmis.py --out "runs/v2/$arm" "${common[@]}" "${extra[@]}"
