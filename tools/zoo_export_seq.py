#!/usr/bin/env python3
"""Exports seed-list models of the non-vision families (PaddleNLP, PARL, PaddleSpeech, ...) to ONNX
with seeded random weights, with inputs and onnxruntime's outputs at two lengths, for `oar conform
--case DIR` (see docs/zoo-notes.md "Sequence, audio and RL exports").

Definitions come from the families' PyPI packages, at small configs (each recorded in export.json);
PARL's policy/value nets from its examples (tools/zoo_parl.py). Export: paddlepaddle 3.0.0
`paddle.onnx.export` (paddle2onnx 2.1.0, opset 13), with the length dimension (tokens, frames) left
symbolic: `InputSpec([1, None], "int64", "input_ids")`. Environment (not the vision venv: CI's):

    python3 -m venv --system-site-packages VENV        # onnxruntime and numpy come from the system
    VENV/bin/pip install paddlepaddle==3.0.0 paddle2onnx==2.1.0 onnx-graphsurgeon==0.6.1
    ... (the full recipe is in docs/zoo-notes.md)

Usage:
    VENV/bin/python tools/zoo_export_seq.py --out DIR [--set ci|all] [NAME...]
    VENV/bin/python tools/zoo_export_seq.py --list

For each model: DIR/NAME/{model.onnx, export.json, a/input_*.npy, a/output_*.npy, b/...} (b: the
second length, only for a model with a symbolic length), or DIR/NAME/error.json {"stage", "error"}.
Inputs are saved in the ONNX graph's input order, outputs in its output order (float ones as
float32). Each model is built and exported in its own subprocess, into DIR/NAME.tmp, renamed to
DIR/NAME when complete. Existing results are reused (delete DIR/NAME to redo one).
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo_table  # noqa: E402

SEED = 0
OPSET = 13
LENGTHS = [16, 37]  # tokens / frames / time steps of case a and case b

# One small model per family that exports here (each ONNX file at most 20 MB; the three sequence
# ones with a symbolic length).
CI_SET = ["ernie-3.0-tiny", "parl-dqn-cartpole", "speech-hifigan", "gan-lesrcnn-x4", "video-stgcn"]
CI_MAX_BYTES = 20 << 20

# The small transformer-encoder config every PaddleNLP encoder is built at (ERNIE 3.0 tiny's width
# and heads, 3 layers instead of 4 and a 2 000-token vocabulary so that the ONNX file stays under
# 20 MB). Architecture-specific keys are added per model.
NLP_SMALL = dict(vocab_size=2000, hidden_size=312, num_hidden_layers=3, num_attention_heads=12,
                 intermediate_size=1248, max_position_embeddings=512, hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.0)


class Built:
    """A model ready to export: `inputs` [(name, dtype, shape with None for the symbolic length)],
    `feed(length)` -> {name: array}; `lengths` None when every dim is fixed."""

    def __init__(self, model, inputs, feed, definition, lengths=LENGTHS):
        self.model, self.inputs, self.feed, self.definition, self.lengths = model, inputs, feed, definition, lengths


def fixed(build, length):
    """The same model with its symbolic length fixed at `length` (for models whose code computes
    with the length in Python control flow, which dy2static cannot keep symbolic)."""

    def build_fixed():
        b = build()
        feed = b.feed
        b.inputs = [(n, d, [length if x is None else x for x in s]) for n, d, s in b.inputs]
        b.feed = lambda _length: feed(length)
        b.definition = dict(b.definition, fixed_length=length)
        b.lengths = None
        return b

    return build_fixed


def rng(length):
    import numpy as np

    return np.random.default_rng([SEED, length or 0])


# ---------------------------------------------------------------------------------------------
# PaddleNLP: transformer encoders, token ids (+ segment ids) in.


def _outputs(out):
    """A model's outputs as a flat tuple of tensors (tuple, list, ModelOutput or one tensor)."""
    # Not isinstance(out, paddle.Tensor): under dy2static a tensor is a pir.Value, and iterating
    # over it would slice the batch dim away.
    if not isinstance(out, (tuple, list)) and not hasattr(out, "to_tuple"):
        return out
    if hasattr(out, "to_tuple"):
        out = out.to_tuple()
    flat = []
    for o in out:
        if isinstance(o, (tuple, list)):
            flat.extend(x for x in o if x is not None)
        elif o is not None:
            flat.append(o)
    return tuple(flat)


def _ids_wrappers():
    import paddle.nn as nn

    class Ids(nn.Layer):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids):
            return _outputs(self.m(input_ids=input_ids))

    class IdsTypes(nn.Layer):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, token_type_ids):
            return _outputs(self.m(input_ids=input_ids, token_type_ids=token_type_ids))

    return Ids, IdsTypes


def nlp(model_cls, config_cls, extra=None, segments=True, vocab_key="vocab_size"):
    """Builder of a PaddleNLP encoder at NLP_SMALL (+ extra)."""

    def build():
        import paddle
        import paddlenlp.transformers as T

        cfg = dict(NLP_SMALL, **(extra or {}))
        paddle.seed(SEED)
        if ":" in config_cls:  # a config class that paddlenlp.transformers does not re-export
            import importlib

            module, cls = config_cls.split(":")
            config = getattr(importlib.import_module(module), cls)
        else:
            config = getattr(T, config_cls)
        model = getattr(T, model_cls)(config(**cfg))
        model.eval()
        Ids, IdsTypes = _ids_wrappers()
        vocab = cfg[vocab_key]
        names = ["input_ids", "token_type_ids"] if segments else ["input_ids"]

        def feed(length):
            r = rng(length)
            ids = r.integers(1, vocab, size=(1, length), dtype="int64")
            d = {"input_ids": ids}
            if segments:
                # Two segments, as a sentence pair has them: 0 on the first half, 1 on the rest.
                d["token_type_ids"] = (np_arange(length) >= length // 2).astype("int64")[None, :]
            return d

        definition = {"package": f"paddlenlp=={_version('paddlenlp')}", "class": f"paddlenlp.transformers.{model_cls}",
                      "config": {"class": config_cls, **cfg}, "forward": names,
                      "outputs": "the model's (sequence_output, pooled_output, ...) with return_dict=False"}
        return Built((IdsTypes if segments else Ids)(model), [(n, "int64", [1, None]) for n in names], feed, definition)

    return build


def np_arange(n):
    import numpy as np

    return np.arange(n)


def _version(pkg):
    from importlib.metadata import version

    try:
        return version(pkg)
    except Exception:
        return "?"


def bigru_crf(decode=True):
    """PaddleNLP's lexical-analysis BiGRU-CRF (examples/lexical_analysis/model.py): word embedding,
    two bidirectional GRU layers, a linear emission layer and the CRF's Viterbi decoding
    (paddlenlp.layers.ViterbiDecoder); the ids in, (scores, best tag path) out."""
    import paddle
    import paddle.nn as nn
    from paddlenlp.layers import LinearChainCrf, ViterbiDecoder

    cfg = dict(word_num=2000, num_labels=57, word_emb_dim=128, grnn_hidden_dim=128, emb_lr=2.0, crf_lr=0.2)

    class BiGruCrf(nn.Layer):
        def __init__(self, word_emb_dim, grnn_hidden_dim, vocab_size, num_labels):
            super().__init__()
            self.word_embedding = nn.Embedding(vocab_size, word_emb_dim)
            self.gru = nn.GRU(word_emb_dim, grnn_hidden_dim, num_layers=2, direction="bidirect")
            self.fc = nn.Linear(grnn_hidden_dim * 2, num_labels + 2)  # BOS and EOS tags
            self.crf = LinearChainCrf(num_labels)
            self.viterbi_decoder = ViterbiDecoder(self.crf.transitions)

        def forward(self, input_ids, lengths=None):
            emission = self.fc(self.gru(self.word_embedding(input_ids))[0])
            return self.viterbi_decoder(emission, lengths) if decode else emission

    paddle.seed(SEED)
    model = BiGruCrf(cfg["word_emb_dim"], cfg["grnn_hidden_dim"], cfg["word_num"], cfg["num_labels"])
    model.eval()

    def feed(length):
        import numpy as np

        return {"input_ids": rng(length).integers(1, cfg["word_num"], size=(1, length), dtype="int64"),
                "lengths": np.array([length], dtype="int64")}

    definition = {"package": f"paddlenlp=={_version('paddlenlp')}",
                  "class": "BiGruCrf of PaddleNLP examples/lexical_analysis/model.py (paddlenlp.layers.LinearChainCrf, ViterbiDecoder)",
                  "config": cfg, "decode": decode}
    if not decode:
        # The CRF's Viterbi decoding does not go through dy2static in paddle 3.0 (bigru-crf's
        # error.json); this form stops at the emissions [1, T, num_labels + 2].
        definition["note"] = "without the Viterbi decoding: embedding, BiGRU x2, emission Linear"
        return Built(model, [("input_ids", "int64", [1, None])], feed, definition)
    return Built(model, [("input_ids", "int64", [1, None]), ("lengths", "int64", [1])], feed, definition)


NLP = [
    ("ernie-3.0-tiny", "ERNIE 3.0", nlp("ErnieModel", "ErnieConfig", dict(type_vocab_size=4, use_task_id=True, task_type_vocab_size=16))),
    ("tinybert", "TinyBert", nlp("TinyBertModel", "TinyBertConfig", dict(type_vocab_size=2, fit_size=768))),
    ("minilmv2-ppminilm", "MiniLMv2", nlp("PPMiniLMModel", "paddlenlp.transformers.ppminilm.configuration:PPMiniLMConfig", dict(type_vocab_size=4))),
    ("bert-small", "BERT-Base", nlp("BertModel", "BertConfig", dict(type_vocab_size=2))),
    ("roberta-small", "RoBERTa", nlp("RobertaModel", "RobertaConfig", dict(type_vocab_size=2))),
    ("electra-small", "ELECTRA", nlp("ElectraModel", "ElectraConfig", dict(embedding_size=128, type_vocab_size=2))),
    ("albert-small", "ALBERT", nlp("AlbertModel", "AlbertConfig", dict(embedding_size=128, type_vocab_size=2))),
    ("distilbert-small", "DistilBert", nlp("DistilBertModel", "DistilBertConfig", segments=False)),
    ("ernie-gram-small", "ERNIE-GRAM", nlp("ErnieGramModel", "ErnieGramConfig", dict(type_vocab_size=2, embedding_size=312))),
    ("nezha-small", "NeZha", nlp("NeZhaModel", "NeZhaConfig", dict(type_vocab_size=2, embedding_size=312, max_relative_position=64, use_relative_position=True))),
    ("roformer-small", "RoFormer", nlp("RoFormerModel", "RoFormerConfig", dict(type_vocab_size=2))),
    ("skep-small", "SKEP", nlp("SkepModel", "SkepConfig", dict(type_vocab_size=4))),
    ("fnet-small", "FNet", nlp("FNetModel", "FNetConfig", dict(type_vocab_size=4))),
    ("fnet-small-t16", "FNet", fixed(nlp("FNetModel", "FNetConfig", dict(type_vocab_size=4)), 16)),
    ("ernie-m-small", "ERNIE-M", nlp("ErnieMModel", "ErnieMConfig", segments=False)),
    ("mpnet-small", "MPNet", nlp("MPNetModel", "MPNetConfig", segments=False)),
    ("convbert-small", "ConvBert", nlp("ConvBertModel", "ConvBertConfig", dict(type_vocab_size=2, embedding_size=312))),
    ("mobilebert-small", "MobileBERT", nlp("MobileBertModel", "MobileBertConfig", dict(
        type_vocab_size=2, hidden_size=512, embedding_size=128, true_hidden_size=128, intra_bottleneck_size=128,
        num_attention_heads=4, intermediate_size=512, num_feedforward_networks=4))),
    ("squeezebert-small", "SqueezeBERT", nlp("SqueezeBertModel", "SqueezeBertConfig", dict(type_vocab_size=2, embedding_size=312))),
    ("megatron-bert-small", "Megatron-LM", nlp("MegatronBertModel", "MegatronBertConfig", dict(type_vocab_size=2))),
    ("rembert-small-t16", "Rembert", fixed(nlp("RemBertModel", "RemBertConfig", dict(type_vocab_size=2, input_embedding_size=128, output_embedding_size=128)), 16)),
    ("rembert-small", "Rembert", nlp("RemBertModel", "RemBertConfig", dict(type_vocab_size=2, input_embedding_size=128, output_embedding_size=128))),
    ("uie-small", "UIE", nlp("UIE", "ErnieConfig", dict(type_vocab_size=4, use_task_id=True, task_type_vocab_size=16))),
    ("gpt-small", "GPT", nlp("GPTModel", "GPTConfig", segments=False)),
    ("bigru-crf", "BiGRU-CRF", bigru_crf),
    ("bigru-crf-emissions", "BiGRU-CRF", lambda: bigru_crf(decode=False)),
]


# ---------------------------------------------------------------------------------------------
# PARL: the policy / value nets of its examples (tools/zoo_parl.py), fixed-shape f32 observations.


def parl_net(ctor_name, inputs, definition_src, kwargs, call=None):
    def build():
        import numpy as np
        import paddle

        import zoo_parl

        paddle.seed(SEED)
        model = getattr(zoo_parl, ctor_name)(**kwargs)
        model.eval()
        if call:  # the method of the parl.Model that the agent runs (policy, value, ...)
            model = zoo_parl.Method(model, call)

        def feed(_length):
            r = rng(None)
            return {n: r.uniform(lo, hi, size=s).astype(np.float32) for n, _, s, (lo, hi) in inputs}

        definition = {"package": f"parl=={_version('parl')} (parl.Model)", "class": f"{definition_src}",
                      "transcribed_in": f"tools/zoo_parl.py:{ctor_name}", "config": kwargs,
                      **({"method": call} if call else {})}
        return Built(model, [(n, d, s) for n, d, s, _ in inputs], feed, definition, lengths=None)

    return build


PARL = [
    ("parl-dqn-cartpole", "DQN", parl_net("CartpoleModel", [("obs", "float32", [1, 4], (-1, 1))],
                                          "examples/DQN/cartpole_model.py CartpoleModel", dict(obs_dim=4, act_dim=2))),
    ("parl-prioritized-dqn-atari", "Prioritized_DQN", parl_net(
        "DQNAtariModel", [("obs", "float32", [1, 4, 84, 84], (0, 255))],
        "examples/DQN_variant/atari_model.py AtariModel (the Prioritized_DQN example's net)", dict(act_dim=6, dueling=False))),
    ("parl-dueling-dqn-atari", "DQN_variant", parl_net(
        "DQNAtariModel", [("obs", "float32", [1, 4, 84, 84], (0, 255))],
        "examples/DQN_variant/atari_model.py AtariModel", dict(act_dim=6, dueling=True))),
    ("parl-ddpg-actor", "DDPG", parl_net("DDPGMujocoModel", [("obs", "float32", [1, 17], (-1, 1))],
                                         "examples/DDPG/mujoco_model.py MujocoModel", dict(obs_dim=17, action_dim=6), call="policy")),
    ("parl-ddpg-critic", "DDPG", parl_net("DDPGMujocoModel", [("obs", "float32", [1, 17], (-1, 1)), ("action", "float32", [1, 6], (-1, 1))],
                                          "examples/DDPG/mujoco_model.py MujocoModel", dict(obs_dim=17, action_dim=6), call="value")),
    ("parl-ppo-mujoco", "PPO", parl_net("PPOMujocoModel", [("obs", "float32", [1, 17], (-1, 1))],
                                        "examples/PPO/mujoco_model.py MujocoModel", dict(obs_dim=17, act_dim=6), call="policy")),
    ("parl-sac-actor", "SAC", parl_net("SACMujocoModel", [("obs", "float32", [1, 17], (-1, 1))],
                                       "examples/SAC/mujoco_model.py MujocoModel", dict(obs_dim=17, action_dim=6), call="policy")),
    ("parl-td3-critic", "TD3", parl_net("TD3MujocoModel", [("obs", "float32", [1, 17], (-1, 1)), ("action", "float32", [1, 6], (-1, 1))],
                                        "examples/TD3/mujoco_model.py MujocoModel", dict(obs_dim=17, action_dim=6), call="value")),
    ("parl-a2c-atari", "A2C", parl_net("A2CAtariModel", [("obs", "float32", [1, 4, 84, 84], (0, 255))],
                                       "examples/A2C/atari_model.py AtariModel", dict(act_dim=6), call="policy_and_value")),
    ("parl-policy-gradient", "PolicyGradient", parl_net("PGModel", [("obs", "float32", [1, 4], (-1, 1))],
                                                        "examples/tutorials/parl2_dygraph/lesson4/policy_gradient/model.py Model", dict(obs_dim=4, act_dim=2))),
    ("parl-es-mujoco", "ES", parl_net("ESMujocoModel", [("obs", "float32", [1, 17], (-1, 1))],
                                      "examples/ES/mujoco_model.py MujocoModel", dict(obs_dim=17, act_dim=6))),
    ("parl-maddpg-actor", "MADDPG", parl_net("MAActorModel", [("obs", "float32", [1, 16], (-1, 1))],
                                             "examples/MADDPG/simple_model.py ActorModel", dict(obs_dim=16, act_dim=5))),
    ("parl-qmix-agent", "QMIX", parl_net("QMIXRNNModel", [("inputs", "float32", [1, 42], (-1, 1)), ("hidden_state", "float32", [1, 64], (-1, 1))],
                                         "examples/QMIX/rnn_model.py RNNModel", dict(input_shape=42, n_actions=9))),
    ("parl-qmix-mixer", "QMIX", parl_net("QMixerModel", [("agent_qs", "float32", [1, 1, 3], (-1, 1)), ("states", "float32", [1, 1, 48], (-1, 1))],
                                         "examples/QMIX/qmixer_model.py QMixerModel", dict(n_agents=3, state_shape=48))),
    ("parl-alphazero-connect4", "AlphaZero", parl_net("Connect4Model", [("s", "float32", [1, 6, 7], (-1, 1))],
                                                      "examples/AlphaZero/connect4_model.py Connect4Model", dict(board_x=6, board_y=7, action_size=7, num_channels=64))),
]


# ---------------------------------------------------------------------------------------------
# The other families' builders live beside this file (their definitions take more code):
# tools/zoo_speech.py (PaddleSpeech), tools/zoo_gan.py (PaddleGAN), tools/zoo_video.py (PaddleVideo).

CATALOGUE = [("PaddleNLP", *e) for e in NLP] + [("PARL", *e) for e in PARL]
FAMILY_MODULES = [("PaddleSpeech", "zoo_speech"), ("PaddleGAN", "zoo_gan"), ("PaddleVideo", "zoo_video")]


def _add_families():
    import importlib

    sys.modules.setdefault("zoo_export_seq", sys.modules[__name__])  # they import Built etc. from here
    for family, module in FAMILY_MODULES:
        if (Path(__file__).resolve().parent / f"{module}.py").exists():
            CATALOGUE.extend((family, *e) for e in importlib.import_module(module).MODELS)


_add_families()


# What an exporter's message leaves out, found by reading the failing definition: added to error.json
# as "cause".
CAUSES = {
    "fnet-small": "FNet mixes tokens with paddle.fft.fft2 over the sequence axis; with a symbolic length dy2static passes "
                  "n = -1 to the fft op, which refuses it (fnet-small-t16 is the fixed-length form)",
    "bigru-crf": "paddlenlp.layers.ViterbiDecoder loops over time with tensor-valued ifs that dy2static turns into conds whose "
                 "branches return different kinds of values (bigru-crf-emissions is the net without the decoding)",
    "gpt-small": "not diagnosed: the process stayed in paddle.jit.to_static / jit.save (nothing logged) while its memory grew",
    "rembert-small": "RemBertAttention.forward hands the self-attention's (context, probs) tuple to RemBertSelfOutput's Linear: "
                     "eager mode lets it through, static mode refuses it (static_op_arg_pre_cast_hook); a paddlenlp 2.8.1 bug",
    "rembert-small-t16": "the tuple-into-Linear of rembert-small: not a length problem",
    "speech-ecapa-tdnn": "Conv1d's 'same' padding is computed from x.shape[-1], a tensor when T is symbolic, and F.pad (pad3d) "
                         "takes only a list of ints in static mode (speech-ecapa-tdnn-t200: fixed 200 frames)",
    "speech-conformer-encoder": "MultiHeadedAttention.forward_attention's `if mask.shape[2] > 0`: with a symbolic T dy2static reads "
                                "mask.shape as a tensor and makes the if a cond whose branches return masks of rank 3 and 4 "
                                "(…-t100: fixed 100 frames, where the shape is an int)",
    "speech-transformer-encoder": "the same `if mask.shape[2] > 0` in the attention as the Conformer encoder (…-t100: fixed 100 frames)",
    "speech-mdtc": "MDTC.forward appends to a Python list inside ifs on x.shape[-1]; with a symbolic T they become conds and the list "
                   "a TensorArray (create_array / array_write_ / slice_array_dense), which paddle2onnx 2.1 cannot convert "
                   "(speech-mdtc-t100: fixed 100 frames)",
    "fnet-small-t16": "FNet's token mixing is paddle.fft.fft2(...).real: the program has pd_op.fft_r2c and pd_op.real, which paddle2onnx 2.1 has no converter for",
}


# ---------------------------------------------------------------------------------------------
# Export of one model (in its own process).

ORT_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
              "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(float16)": "float16"}


def export_one(name, out):
    import numpy as np
    import onnxruntime as ort
    import paddle

    family, _, seed, build = entry(name)
    final = Path(out) / zoo_table.safe_dir(name)
    tmp = Path(out) / (zoo_table.safe_dir(name) + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    stage = "build"
    try:
        built = build()
        params = int(sum(int(np.prod(p.shape)) for p in built.model.parameters()))
        stage = "export"
        start = time.time()
        specs = [paddle.static.InputSpec(s, d, n) for n, d, s in built.inputs]
        for attempt in range(2):
            with p2o_errors() as errors:
                paddle.onnx.export(built.model, str(tmp / "model"), input_spec=specs, opset_version=OPSET, verbose=True)
            # dy2static now and then fails to find the forward it has just transformed (seen on
            # ERNIE-M and ERNIE-Gram, never twice in a row): once more.
            if not (errors and "transformed from AST" in errors[0]):
                break
        if errors:
            raise ExportError(" / ".join(errors))
        export_s = time.time() - start
        if not (tmp / "model.onnx").exists():
            raise RuntimeError("paddle.onnx.export wrote no model.onnx")
        stage = "onnxruntime"
        sess = ort.InferenceSession(str(tmp / "model.onnx"), providers=["CPUExecutionProvider"])
        graph_inputs = [(i.name, i.type, i.shape) for i in sess.get_inputs()]
        lengths = built.lengths
        symbolic = any(not isinstance(d, int) for _, _, s in graph_inputs for d in s)
        if lengths and not symbolic:
            raise RuntimeError("the exported graph has no symbolic dim although the model was exported with one")
        n_out, paddle_diff = None, {}
        for case, length in zip("ab", lengths or [None]):
            feed_all = built.feed(length)
            feed = {}
            for n, _, _ in graph_inputs:
                if n not in feed_all:
                    raise RuntimeError(f"graph input {n} is not one of the exported inputs {list(feed_all)}")
                feed[n] = feed_all[n]
            outs = sess.run(None, feed)
            n_out = len(outs)
            paddle_diff[case] = paddle_vs_ort(built, feed_all, [n for n, _, _ in built.inputs], outs)
            d = tmp / case
            d.mkdir()
            for i, (n, _, _) in enumerate(graph_inputs):
                np.save(d / f"input_{i}.npy", feed[n])
            for i, y in enumerate(outs):
                y = np.asarray(y)
                np.save(d / f"output_{i}.npy", y.astype(np.float32) if y.dtype.kind == "f" else y)
        meta = {
            "name": name, "family": family, "seed_model": seed, "definition": built.definition,
            "inputs": [{"name": n, "dtype": ORT_DTYPES.get(t, t),
                        "shape": [d if isinstance(d, int) else None for d in s]} for n, t, s in graph_inputs],
            "outputs": n_out, "output_names": [o.name for o in sess.get_outputs()],
            "params": params, "bytes": (tmp / "model.onnx").stat().st_size,
            "lengths": lengths, "paddle_vs_onnxruntime": paddle_diff, "opset": OPSET, "seed": SEED, "export_s": round(export_s, 1),
            "paddle": paddle.__version__, "paddle2onnx": _version("paddle2onnx"),
        }
        zoo_table.write_json(tmp / "export.json", meta)
    except Exception as e:
        traceback.print_exc()
        for p in list(tmp.iterdir()):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        err = {"name": name, "stage": stage, "error": f"{type(e).__name__}: {e}"[:2000]}
        if name in CAUSES:
            err["cause"] = CAUSES[name]
        zoo_table.write_json(tmp / "error.json", err)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


class ExportError(Exception):
    pass


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean_error(message):
    """paddle2onnx's error message without colours, cut to its first line and the exception that
    ends it (dy2static puts the whole transformed-code traceback in between)."""
    lines = [l.strip() for l in ANSI.sub("", str(message)).splitlines() if l.strip()]
    if not lines:
        return ""
    exc = [l for l in lines if re.match(r"^\(?\w+(Error|Exception)\)?\b", l)]
    if exc and exc[-1] != lines[0]:
        return f"{lines[0]} ... {exc[-1]}"
    return lines[0] if len(lines) == 1 else " ".join(lines[:3])


@contextlib.contextmanager
def p2o_errors():
    """paddle2onnx catches every exception of the export and logs it with logging.error, which
    calls sys.exit(-1): record the messages instead, for the caller to raise."""
    import paddle2onnx.convert as convert

    errors = []
    log = convert.logging
    old = log.__dict__.get("error")
    def record(message="", use_color=True, exit=True):
        print(f"[paddle2onnx error] {message}", file=sys.stderr)  # the whole text, for export.log
        errors.append(clean_error(message))

    log.error = staticmethod(record)
    try:
        yield errors
    finally:
        if old is not None:
            log.error = old


def paddle_vs_ort(built, feed, names, outs):
    """Largest |paddle dygraph - onnxruntime| over the outputs, absolute and relative to the output's
    largest magnitude (a check of the export itself), or why it could not be taken."""
    import numpy as np
    import paddle

    try:
        with paddle.no_grad():
            ref = built.model(*[paddle.to_tensor(feed[n]) for n in names])
        ref = [ref] if isinstance(ref, paddle.Tensor) else [r for r in ref if r is not None]
        if len(ref) != len(outs):
            return f"paddle gave {len(ref)} outputs, onnxruntime {len(outs)}"
        worst = {"max_abs": 0.0, "rel": 0.0}
        for r, o in zip(ref, outs):
            r, o = r.numpy().astype(np.float64), np.asarray(o, np.float64)
            if r.shape != o.shape:
                return f"shapes differ: paddle {list(r.shape)}, onnxruntime {list(o.shape)}"
            if o.size:
                d = float(np.max(np.abs(r - o)))
                worst["max_abs"] = max(worst["max_abs"], d)
                worst["rel"] = max(worst["rel"], d / max(float(np.max(np.abs(o))), 1e-30))
        return worst
    except Exception as e:
        return f"not compared: {type(e).__name__}: {e}"[:300]


def entry(name):
    for e in CATALOGUE:
        if e[1] == name:
            return e
    raise SystemExit(f"{name}: not in the catalogue (see --list)")


def child_env():
    env = dict(os.environ)
    env.setdefault("PARL_BACKEND", "paddle")  # parl's auto-detection imports paddle.fluid (gone in paddle 3)
    env.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")  # parl's *_pb2 predate protobuf 4
    env.setdefault("POLYGRAPHY_AUTOINSTALL_DEPS", "0")  # paddle2onnx's constant folding must not pip-install
    return env


def run_child(name, out, timeout):
    d = Path(out) / zoo_table.safe_dir(name)
    if (d / "export.json").exists() or (d / "error.json").exists():
        return "cached"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", name, "--out", str(Path(out).resolve())]
    # In a scratch directory: paddlespeech's logger writes exp/log and .log.txt into the cwd.
    cwd = Path(tempfile.gettempdir()) / "oar-zoo-seq-cwd"
    cwd.mkdir(exist_ok=True)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=cwd)
        log = p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        p, log = None, f"export took over {timeout} s"
    if (d / "export.json").exists():
        return "exported"
    if not (d / "error.json").exists():
        # The child died (a fatal signal in paddle or paddle2onnx) before it could write error.json.
        lines = [l.strip() for l in log.splitlines() if l.strip() and "warn" not in l.lower()]
        errs = list(dict.fromkeys(clean_error(l.replace("[ERROR][Paddle2ONNX]", "")) for l in lines if "[ERROR]" in l))
        fatal = [l for l in lines if l.startswith("FatalError")]
        frames = [l for l in lines if re.match(r"^0\s+\S+::", l)]  # the innermost C++ frame paddle prints
        if errs:  # paddle2onnx's own words first (its abort follows them)
            reason = " ".join(errs) + (f" ({fatal[-1]})" if fatal else "")
        elif fatal:
            reason = fatal[-1] + (f" (innermost C++ frame: {frames[-1][1:].strip()})" if frames else "")
        else:
            reason = lines[-1] if lines else f"exit code {p.returncode if p else '?'}"
        tmp = Path(out) / (zoo_table.safe_dir(name) + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        err = {"name": name, "stage": "export", "error": reason[:2000]}
        if name in CAUSES:
            err["cause"] = CAUSES[name]
        zoo_table.write_json(tmp / "error.json", err)
        shutil.rmtree(d, ignore_errors=True)
        os.replace(tmp, d)
    else:
        # paddle2onnx reports what it cannot convert in [ERROR] lines: add them to the error.
        errs = list(dict.fromkeys(clean_error(l.replace("[ERROR][Paddle2ONNX]", "")) for l in log.splitlines() if "[ERROR][Paddle2ONNX]" in l))
        if errs:
            e = json.loads((d / "error.json").read_text())
            e["error"] = (" ".join(errs) + " | " + e["error"])[:2000]
            zoo_table.write_json(d / "error.json", e)
    (d / "export.log").write_text(log[-20000:])
    return "failed"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--set", choices=["ci", "all"], default="all")
    ap.add_argument("--timeout", type=int, default=900, help="seconds allowed per export")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    if args.one:
        export_one(args.one, args.out)
        return
    if args.list:
        for family, name, seed, _ in CATALOGUE:
            print(f"{family}\t{name}\t{seed}{'  [ci]' if name in CI_SET else ''}")
        return
    if not args.out:
        ap.error("--out DIR is required")
    wanted = set(args.names) | (set(CI_SET) if args.set == "ci" else set())
    todo = [e for e in CATALOGUE if not wanted or e[1] in wanted]
    missing = wanted - {e[1] for e in todo}
    if missing:
        print(f"not in the catalogue, skipped: {', '.join(sorted(missing))} (see --list)", file=sys.stderr)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    counts = {}
    for i, (family, name, _, _) in enumerate(todo, 1):
        t = time.time()
        result = run_child(name, args.out, args.timeout)
        counts[result] = counts.get(result, 0) + 1
        d = Path(args.out) / zoo_table.safe_dir(name)
        extra = ""
        if (d / "error.json").exists():
            e = json.loads((d / "error.json").read_text())
            extra = f" [{e['stage']}] {zoo_table.short(e['error'], 140)}"
        print(f"[{i}/{len(todo)}] {family} {name}: {result} ({time.time() - t:.0f} s){extra}", flush=True)
    print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
