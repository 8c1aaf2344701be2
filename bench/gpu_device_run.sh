#!/bin/bash
# Runs on the lent GPU machine (no network; wheels carried in .whl/). Not a test.
#   bash bench/gpu_device_run.sh first   install, GPU check, setup, tiny faithful lab + evidence, then start the
#                                        full-size benchmark detached (setsid) and follow it until ~560 s
#   bash bench/gpu_device_run.sh wait    follow the detached full-size benchmark for up to ~560 s more; collect it;
#                                        keep .h14/a (first half of the SmolLM2 GGUF, if carried) in /tmp/smol
#   bash bench/gpu_device_run.sh quality with .h14/b carried: join the GGUF, wait for the full run to end, then
#                                        bench/awq_quality.py (AWQ settings: time and held-out perplexity)
# SKIP_EVIDENCE=1 skips the tiny-size evidence runs (builder on AWQ + adapter directly; hybrid flow);
# BARE_STEP=none skips the bare-command comparison of the full run.
set -u
MODE=${1:-first}
R=$(pwd)   # the repo; CLI commands run from /tmp (its wheel install of olive-lab is not editable)
W=${WHEELS:-$R/.whl}  # the wheels; over 64 MiB they come in two calls: `mkdir -p /tmp/w && cp -r .whl/. /tmp/w`, then WHEELS=/tmp/w
T0=$(date +%s)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 OLIVE_LAB_ENVS=/tmp/envs TF_BUILD=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
FULL=/tmp/full
elapsed() { echo $(( $(date +%s) - T0 )); }

follow_full() {  # $1 = seconds budget from T0
  while [ ! -f $FULL/result.json ] && [ "$(elapsed)" -lt "$1" ]; do
    if ! pgrep -f "bench/gpu_lab.py --work $FULL" >/dev/null; then echo "bench process gone"; break; fi
    sleep 15
    echo "--- $(elapsed) s: $(grep -a '^\[bench' $FULL.log | tail -1)"
    ls $FULL/lab/logs 2>/dev/null | tr '\n' ' '; echo
    for s in quantize finetune optimize; do
      f=$FULL/lab/logs/$s.log; [ -f $f ] && echo "  $s: $(tr '\r' '\n' < $f | grep -a -v '^\s*$' | tail -1 | cut -c1-200)"
    done
    nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader; free -g | sed -n 2p; df -h /tmp | tail -1
  done
}

collect_full() {
  cp $FULL.log "$OUT/full.log" 2>/dev/null
  [ -f $FULL/result.json ] && cp $FULL/result.json "$OUT/bench-full.json" && cp $FULL/result.md "$OUT/bench-full.md"
  (cd $FULL && tar czf "$OUT/full-lablogs.tar.gz" lab/logs lab/.olive-lab lab/reports bench-logs lab/models/phi/onnx-ao/awq-onnx-report.json 2>/dev/null)
}

if [ "$MODE" = first ]; then
  {
    echo "== machine"; nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv; nproc; free -g; df -h /tmp
    python3 -c "import torch, transformers, peft; print(torch.__version__, torch.version.cuda, transformers.__version__, peft.__version__)"
    echo "== install ($(elapsed) s)"
    MAINW=$(ls $W/*.whl | grep -v -E '/(transformers|tokenizers|huggingface_hub|peft|autoawq)-')
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $MAINW || exit 1
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target /tmp/site . || exit 1
    python3 -c "import olive, onnxruntime, onnxruntime_genai, datasets; print('main env:', olive.__version__, onnxruntime.__version__, onnxruntime_genai.__version__, datasets.__version__)"
    echo "== olive-lab check --json ($(elapsed) s)"
    (cd /tmp && python3 -m olive_lab.cli check --json -w /tmp/checkw > "$OUT/check.json"); echo "check rc=$?"
    echo "== olive-lab setup --profile gpu ($(elapsed) s)"
    (cd /tmp && python3 -m olive_lab.cli setup --profile gpu --wheels "$W"); echo "setup rc=$?"
    echo "== olive-lab check --profile gpu (after setup)"; (cd /tmp && python3 -m olive_lab.cli check --profile gpu -w /tmp/checkw); echo "check gpu rc=$?"
  } 2>&1 | tee "$OUT/first.log"
  if [ "${SKIP_TINY:-0}" = 1 ]; then TINY_RC=0; SKIP_EVIDENCE=1; else
  echo "== tiny lab, faithful flow, through olive-lab run ($(elapsed) s)" | tee -a "$OUT/first.log"
  python3 "$R/bench/gpu_lab.py" --work /tmp/tiny --size tiny --chat-tokens 32 --out /tmp/tiny/result.json > /tmp/tiny.log 2>&1
  TINY_RC=$?
  cp /tmp/tiny.log "$OUT/bench-tiny.log"; cp /tmp/tiny/result.json "$OUT/bench-tiny.json" 2>/dev/null
  tail -30 /tmp/tiny.log; fi
  if [ "${SKIP_EVIDENCE:-0}" != 1 ]; then {
    echo "== evidence: the builder on the AWQ model + adapter directly ($(elapsed) s)"
    L=/tmp/tiny/lab/models/phi
    (cd /tmp/tiny && timeout 240 olive auto-opt -m $L/ft/model -a $L/ft/adapter --device cpu --provider CPUExecutionProvider \
       --use_ort_genai --use_model_builder --precision int4 -o /tmp/tiny/direct --log_level 1 2>&1 | tr '\r' '\n' | grep -a -E "Error|error|Traceback|named_modules|output model|Unpacking" | tail -8)
    echo "== evidence: hybrid flow on the same lab ($(elapsed) s)"
    cp -r /tmp/tiny/lab /tmp/tiny/lab-hybrid
    (cd /tmp && OLIVE_LAB_GPU_FLOW=hybrid timeout 240 python3 -m olive_lab.cli run --only optimize -w /tmp/tiny/lab-hybrid 2>&1 | tail -25)
    echo "== done tiny part ($(elapsed) s), tiny rc=$TINY_RC"
  } 2>&1 | tee "$OUT/tiny-extra.log"; fi
  [ -d /tmp/tiny ] && (cd /tmp/tiny && tar czf "$OUT/tiny-lablogs.tar.gz" lab/logs lab/.olive-lab bench-logs lab/models/phi/onnx-ao/awq-onnx-report.json lab/models/phi/awq/awq-config.json 2>/dev/null)
  if [ "$TINY_RC" != 0 ] || [ "${SKIP_FULL:-0}" = 1 ]; then echo "not starting the full-size run"; exit $TINY_RC; fi
  echo "== starting the full-size benchmark detached ($(elapsed) s)"
  setsid nohup python3 "$R/bench/gpu_lab.py" --work $FULL --size phi35mini --bare-step "${BARE_STEP:-finetune}" \
    --out $FULL/result.json > $FULL.log 2>&1 < /dev/null &
  sleep 5
  follow_full 585
  collect_full
  exit 0
fi

equivalence() {  # ours vs AutoAWQ's quantizer on the GPU: Phi-3.5-mini shapes, 2 layers, float32
  echo "== AWQ equivalence on the GPU ($(elapsed) s)"
  python3 -m olive_lab.steps.tiny_model --out /tmp/eq/model --data $FULL/data/travel.jsonl --size phi35mini --layers 2 --longrope >/tmp/eq.log 2>&1 || { tail -5 /tmp/eq.log; return; }
  (cd /tmp && PYTHONPATH=/tmp/envs/awq-tf4:/tmp/site timeout 300 python3 "$R/bench/awq_equivalence.py" /tmp/eq/model $FULL/lab/models/phi/awq/calib 2>&1 | grep -v -i warn | tail -15) | tee "$OUT/awq-equivalence.log"
}

if [ "$MODE" = wait ]; then
  [ -f .h14/a ] && mkdir -p /tmp/smol && cp .h14/a /tmp/smol/a && echo "kept .h14/a ($(stat -c %s .h14/a) bytes)"
  follow_full "${WAIT_S:-430}"
  collect_full
  [ -f $FULL/result.json ] && cat $FULL/result.md
  [ -f $FULL/result.json ] && [ "${EQUIV:-1}" = 1 ] && equivalence
  exit 0
fi

if [ "$MODE" = quality ]; then
  mkdir -p /tmp/smol && cat /tmp/smol/a .h14/b > /tmp/smol/SmolLM2-135M-Instruct.Q4_1.gguf && ls -la /tmp/smol
  follow_full 300
  collect_full
  [ -f $FULL/result.json ] && cat $FULL/result.md
  echo "== AWQ settings on SmolLM2 ($(elapsed) s)"
  (cd /tmp && python3 "$R/bench/awq_quality.py" --gguf /tmp/smol/SmolLM2-135M-Instruct.Q4_1.gguf --work /tmp/q \
     --variants "${VARIANTS:-today,ours,ours-no-clip,ours-grid-10,ours-64-samples}" --out "$OUT/awq-quality.json") 2>&1 | tee "$OUT/awq-quality.log" | grep -v -i warn
  (cd /tmp/q && tar czf "$OUT/awq-logs.tar.gz" *.log) 2>/dev/null; ls "$OUT"
  exit 0
fi
echo "unknown mode $MODE"; exit 2
