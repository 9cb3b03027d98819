#!/usr/bin/env bash
# Makes the environment of tools/zoo_export_seq.py (not the vision exporter's venv, which CI uses):
#   bash tools/zoo_seq_venv.sh [VENV]        # default ~/.cache/oar-zoo/venv-seq
# onnxruntime and numpy come from the system Python (--system-site-packages). The model packages go
# in with --no-deps (their pins want older paddle / numpy / protobuf); what their imports need is
# listed after them. Versions are the ones the exports in docs/zoo-notes.md were made with.
set -euo pipefail
VENV=${1:-$HOME/.cache/oar-zoo/venv-seq}
python3 -m venv --system-site-packages "$VENV"
PIP="$VENV/bin/pip install -q"
# paddle2onnx's constant folding (polygraphy) pip-installs onnx_graphsurgeon on first use unless present.
$PIP paddlepaddle==3.0.0 paddle2onnx==2.1.0 onnx-graphsurgeon==0.6.1
# PaddleNLP 2.8.1 (huggingface-hub ≤ 0.2x: 2.8.1 imports repo_type_and_id_from_hf_id; aistudio-sdk 0.2.x: it imports aistudio_sdk.hub.download)
$PIP --no-deps paddlenlp==2.8.1 huggingface-hub==0.23.5 aistudio-sdk==0.2.1 jieba==0.42.1 sentencepiece==0.2.3 \
    seqeval==1.2.2 safetensors==0.8.0 filelock==4.3.2 dill==0.3.8 colorlog regex
$PIP scipy==1.17.1 scikit-learn==1.9.1 datasets==2.19.0 huggingface-hub==0.23.5 fastapi==0.165.0 uvicorn==0.55.0 typer==0.29.3
# PARL 2.2.1 (import with PARL_BACKEND=paddle and PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python: zoo_export_seq sets both)
$PIP --no-deps parl==2.2.1 termcolor==3.3.0 pyzmq==27.3.0 grpcio==1.85.4 nvidia-ml-py==13.615.71 pynvml==13.0.1 \
    tensorboardX==2.6.5 psutil==7.2.2
# PaddleSpeech 1.5.0
$PIP --no-deps paddlespeech==1.5.0 loguru==0.8.0 pypinyin==0.55.0 textgrid==1.6.1 ffmpeg-python==0.2.0 future==1.0.0 \
    pathos==0.3.5 ppft==1.7.8 pox==0.3.7 h5py==3.16.0 flatten-dict==0.5.0 kaldiio==2.18.1 yacs==0.1.8 jsonlines==4.0.0 \
    ffmpy==1.0.0 braceexpand==0.1.7 visualdl==2.5.3 timer==0.3.0
$PIP inflect==7.0.0 typeguard==2.13.3 librosa==0.11.0 soundfile==0.14.0 resampy==0.4.3 matplotlib==3.11.2
# PaddleGAN 2.1.0 and PaddleVideo (ppvideo 2.3.1)
$PIP --no-deps ppgan==2.1.0 ppvideo==2.3.1 munch==4.0.0 natsort==8.4.0
$PIP scikit-image==0.26.0
"$VENV/bin/python" -c "import paddle, paddle2onnx, onnxruntime; print('paddle', paddle.__version__, 'paddle2onnx', paddle2onnx.__version__, 'onnxruntime', onnxruntime.__version__)"
