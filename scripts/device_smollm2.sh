# Sourced by the GPU session scripts (reports/llm_gpu/session1.sh, reports/llmzip_gpu/session.sh) on the device:
#   device_setup           data and wheels carried in .carry/ (data.tar.xz, whl/) unpacked under /root and /tmp/site
#   device_smollm2_join    the GGUF carried in two halves (/root/gguf.aa from an earlier call, .carry/gguf.ab now)
#                          joined, sha256-checked, and the environment the lab's scripts read exported
device_setup() {
  mkdir -p /root/data && tar xJf .carry/data.tar.xz -C /root/data || return 1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .carry/whl/*.whl
}

device_smollm2_join() {
  local M=/root/models/smollm2-135m-instruct
  if [ ! -f $M/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    mkdir -p $M && cat /root/gguf.aa .carry/gguf.ab > $M/SmolLM2-135M-Instruct.Q4_1.gguf || return 1
  fi
  echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $M/SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c || return 1
  export PYTHONPATH=/tmp/site:$PWD LAB_DATA=/root/data LAB_MODELS=/root/models PYTHONUNBUFFERED=1
}
