"""PaddleSpeech models for tools/zoo_export_seq.py: definitions from the `paddlespeech` package
(1.5.0, installed --no-deps), at the sizes of its example configs or smaller (each recorded in
export.json). Mel / feature frames are the symbolic length."""

import sys
import types

from zoo_export_seq import SEED, Built, _version, fixed, rng


def _weightless(model):
    """Inference form: weight norm folded into the weights (as PaddleSpeech's own exports do)."""
    if hasattr(model, "remove_weight_norm"):
        model.remove_weight_norm()
    model.eval()
    return model


def _definition(cls, cfg, **more):
    return {"package": f"paddlespeech=={_version('paddlespeech')}", "class": cls, "config": cfg, **more}


def _normal(name, shape_of):
    import numpy as np

    def feed(length):
        return {name: rng(length).standard_normal(size=shape_of(length)).astype(np.float32)}

    return feed


def mdtc():
    import paddle
    from paddlespeech.kws.models.mdtc import MDTC, KWSModel

    # examples/hey_snips/kws0/conf/mdtc.yaml
    cfg = dict(stack_num=3, stack_size=4, in_channels=80, res_channels=32, kernel_size=5, causal=True, num_keywords=1)
    paddle.seed(SEED)
    backbone = MDTC(**{k: v for k, v in cfg.items() if k != "num_keywords"})
    kws = KWSModel(backbone=backbone, num_keywords=cfg["num_keywords"])

    class KWS(paddle.nn.Layer):
        """KWSModel.forward with the backbone's (outputs, cache) unpacked: paddlespeech 1.5.0 hands
        the whole tuple to its Linear, which eager mode lets through and static mode refuses
        ("Call static_op_arg_pre_cast_hook failed")."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            outputs, _ = self.m.backbone(x)
            return self.m.activation(self.m.linear(outputs))

    model = KWS(kws)
    model.eval()
    return Built(model, [("feats", "float32", [1, None, 80])], _normal("feats", lambda t: (1, t, 80)),
                 _definition("paddlespeech.kws.models.mdtc.KWSModel(MDTC)", cfg, input="fbank frames [1, T, 80]",
                             note="KWSModel.forward with the backbone's (outputs, cache) tuple unpacked before its Linear"))


def hifigan():
    import paddle
    from paddlespeech.t2s.models.hifigan import HiFiGANGenerator

    # csmsc hifigan (voc5) layout with HiFiGAN V2's 128 initial channels instead of 512 (V1).
    cfg = dict(in_channels=80, out_channels=1, channels=128, kernel_size=7, upsample_scales=[5, 5, 4, 3],
               upsample_kernel_sizes=[10, 10, 8, 6], resblock_kernel_sizes=[3, 7, 11],
               resblock_dilations=[[1, 3, 5], [1, 3, 5], [1, 3, 5]], use_additional_convs=True, use_weight_norm=True)
    paddle.seed(SEED)
    model = _weightless(HiFiGANGenerator(**cfg))
    return Built(model, [("logmel", "float32", [1, 80, None])], _normal("logmel", lambda t: (1, 80, t)),
                 _definition("paddlespeech.t2s.models.hifigan.HiFiGANGenerator", cfg, input="mel [1, 80, T] -> wave [1, 1, 300*T]"))


def melgan():
    import paddle
    from paddlespeech.t2s.models.melgan import MelGANGenerator

    cfg = dict(in_channels=80, out_channels=1, kernel_size=7, channels=512, upsample_scales=[5, 5, 4, 3], stack_kernel_size=3, stacks=3)
    paddle.seed(SEED)
    model = _weightless(MelGANGenerator(**cfg))
    return Built(model, [("logmel", "float32", [1, 80, None])], _normal("logmel", lambda t: (1, 80, t)),
                 _definition("paddlespeech.t2s.models.melgan.MelGANGenerator", cfg, input="mel [1, 80, T] -> wave [1, 1, 300*T]"))


def mb_melgan():
    import paddle
    import paddle.nn as nn
    from paddlespeech.t2s.models.melgan import MelGANGenerator

    # examples/csmsc/voc3/conf/default.yaml (multi-band MelGAN: 4 sub-bands, PQMF synthesis in inference())
    cfg = dict(in_channels=80, out_channels=4, kernel_size=7, channels=384, upsample_scales=[5, 5, 3], stack_kernel_size=3, stacks=4,
               use_final_nonlinear_activation=True, use_weight_norm=True)
    paddle.seed(SEED)
    gen = _weightless(MelGANGenerator(**cfg))

    class Infer(nn.Layer):  # generator + PQMF synthesis, as MelGANGenerator.inference, batched
        def __init__(self, g):
            super().__init__()
            self.g = g

        def forward(self, logmel):
            return self.g.pqmf.synthesis(self.g.melgan(logmel))

    return Built(Infer(gen), [("logmel", "float32", [1, 80, None])], _normal("logmel", lambda t: (1, 80, t)),
                 _definition("paddlespeech.t2s.models.melgan.MelGANGenerator (multi-band) + its PQMF synthesis", cfg,
                             input="mel [1, 80, T] -> wave [1, 1, 300*T]"))


def pwgan():
    import numpy as np
    import paddle
    from paddlespeech.t2s.models.parallel_wavegan import PWGGenerator

    # examples/csmsc/voc1/conf/default.yaml with 10 layers in 1 stack instead of 30 in 3 (export time).
    cfg = dict(in_channels=1, out_channels=1, kernel_size=3, layers=10, stacks=1, residual_channels=64, gate_channels=128,
               skip_channels=64, aux_channels=80, aux_context_window=2, use_weight_norm=True, upsample_scales=[4, 5, 3, 5])
    paddle.seed(SEED)
    model = _weightless(PWGGenerator(**cfg))

    def feed(length):
        r = rng(length)
        return {"noise": r.standard_normal(size=(1, 1, 300 * length)).astype(np.float32),
                "logmel": r.standard_normal(size=(1, 80, length + 4)).astype(np.float32)}

    return Built(model, [("noise", "float32", [1, 1, None]), ("logmel", "float32", [1, 80, None])], feed,
                 _definition("paddlespeech.t2s.models.parallel_wavegan.PWGGenerator", cfg,
                             input="noise [1, 1, 300*T], mel [1, 80, T+4] (aux_context_window 2 each side) -> wave [1, 1, 300*T]"))


def ecapa():
    import paddle
    from paddlespeech.vector.models.ecapa_tdnn import EcapaTdnn

    cfg = dict(input_size=80, lin_neurons=192, channels=[256, 256, 256, 256, 768], kernel_sizes=[5, 3, 3, 3, 1],
               dilations=[1, 2, 3, 4, 1], attention_channels=128, res2net_scale=8, se_channels=128, global_context=True)
    paddle.seed(SEED)
    model = EcapaTdnn(**cfg)
    model.eval()
    return Built(model, [("feats", "float32", [1, 80, None])], _normal("feats", lambda t: (1, 80, t)),
                 _definition("paddlespeech.vector.models.ecapa_tdnn.EcapaTdnn", cfg, input="fbank [1, 80, T] -> embedding [1, 192, 1]"))


def ge2e():
    import paddle
    import paddle.nn as nn
    from paddlespeech.vector.models.lstm_speaker_encoder import LSTMSpeakerEncoder

    # examples/other/ge2e: n_mels 40, 3 LSTM layers of 256, embedding 256
    cfg = dict(n_mels=40, num_layers=3, hidden_size=256, output_size=256)
    paddle.seed(SEED)
    enc = LSTMSpeakerEncoder(**cfg)
    enc.eval()

    class Embed(nn.Layer):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, mels):
            return self.m.embed_sequences(mels)

    return Built(Embed(enc), [("mels", "float32", [1, None, 40])], _normal("mels", lambda t: (1, t, 40)),
                 _definition("paddlespeech.vector.models.lstm_speaker_encoder.LSTMSpeakerEncoder.embed_sequences", cfg,
                             input="mel [1, T, 40] -> normalised embedding [1, 256]"))


def _asr_encoder(cls_name, cfg):
    def build():
        import numpy as np
        import paddle
        import paddlespeech.s2t.modules.encoder as E

        paddle.seed(SEED)
        enc = getattr(E, cls_name)(**cfg)
        enc.eval()

        class Offline(paddle.nn.Layer):
            """BaseEncoder.forward for one unpadded utterance: the all-ones mask of its T frames
            instead of make_non_pad_mask(xs_lens), whose length int(xs_lens.max()) is data-dependent
            (exported, it makes the attention's `if mask.shape[2] > 0` a cond whose branches differ
            in rank). No chunking (static_chunk_size 0), as forward has it at decoding_chunk_size 0."""

            def __init__(self, e):
                super().__init__()
                self.e = e

            def forward(self, feats):
                e = self.e
                masks = paddle.ones([1, 1, feats.shape[1]], dtype="bool")
                xs, pos_emb, masks = e.embed(feats, masks, offset=0)
                mask_pad = ~masks
                chunk_masks = masks
                for layer in e.encoders:
                    xs, chunk_masks, _, _ = layer(xs, chunk_masks, pos_emb, mask_pad)
                if e.normalize_before:
                    xs = e.after_norm(xs)
                return xs

        def feed(length):
            return {"feats": rng(length).standard_normal(size=(1, length, 80)).astype(np.float32)}

        return Built(Offline(enc), [("feats", "float32", [1, None, 80])], feed,
                     _definition(f"paddlespeech.s2t.modules.encoder.{cls_name}", cfg,
                                 input="fbank [1, T, 80] -> encoder out [1, T', d]; T' = ((T-1)//2-1)//2",
                                 note="BaseEncoder.forward's layers on one unpadded utterance (all-ones mask), no xs_lens input"))

    return build


CONFORMER = dict(input_size=80, output_size=144, attention_heads=4, linear_units=576, num_blocks=2, dropout_rate=0.0,
                 positional_dropout_rate=0.0, attention_dropout_rate=0.0, input_layer="conv2d", pos_enc_layer_type="rel_pos",
                 normalize_before=True, selfattention_layer_type="rel_selfattn", activation_type="swish", use_cnn_module=True,
                 cnn_module_kernel=15, macaron_style=True)
TRANSFORMER = dict(input_size=80, output_size=144, attention_heads=4, linear_units=576, num_blocks=2, dropout_rate=0.0,
                   positional_dropout_rate=0.0, attention_dropout_rate=0.0, input_layer="conv2d", pos_enc_layer_type="abs_pos",
                   normalize_before=True)


def deepspeech2():
    import numpy as np
    import paddle

    # paddlespeech.s2t.models.ds2/__init__ pip-installs paddlespeech_ctcdecoders (no wheel for this
    # Python) when it cannot import it; CTC decoding is not part of the exported net.
    stub = types.ModuleType("paddlespeech_ctcdecoders")
    stub.__getattr__ = lambda name: type(name, (), {})  # names the decoder wrappers import (Scorer, ...)
    sys.modules.setdefault("paddlespeech_ctcdecoders", stub)
    from paddlespeech.s2t.models.ds2 import DeepSpeech2InferModel

    # examples/aishell/asr0 offline (bidirectional) layout, rnn_size 256 instead of 1024
    cfg = dict(feat_size=161, dict_size=100, num_conv_layers=2, num_rnn_layers=2, rnn_size=256, rnn_direction="bidirect",
               num_fc_layers=2, fc_layers_size_list=[512, 256], use_gru=False)
    paddle.seed(SEED)
    model = DeepSpeech2InferModel(**cfg)
    model.eval()

    def feed(length):
        return {"audio": rng(length).standard_normal(size=(1, length, 161)).astype(np.float32),
                "audio_len": np.array([length], dtype=np.int64)}

    return Built(model, [("audio", "float32", [1, None, 161]), ("audio_len", "int64", [1])], feed,
                 _definition("paddlespeech.s2t.models.ds2.DeepSpeech2InferModel", cfg,
                             input="linear spectrogram [1, T, 161], its length [1] -> (CTC probs [1, T', 100], lengths)"))


def _phones(vocab, length, tone_size=None):
    import numpy as np

    r = rng(length)
    d = {"text": r.integers(1, vocab, size=(length,), dtype=np.int64)}
    if tone_size:
        d["tones"] = r.integers(1, tone_size, size=(length,), dtype=np.int64)
    return d


def fastspeech2():
    import numpy as np
    import paddle
    import paddle.nn as nn
    from paddlespeech.t2s.models.fastspeech2 import FastSpeech2

    # examples/csmsc/tts3/conf/default.yaml, adim 256 / 2+2 layers / postnet 256 channels instead of 384 / 4+4 / 256
    cfg = dict(idim=268, odim=80, adim=256, aheads=2, elayers=2, eunits=1024, dlayers=2, dunits=1024, positionwise_layer_type="conv1d",
               positionwise_conv_kernel_size=3, postnet_layers=5, postnet_chans=256, postnet_filts=5, use_scaled_pos_enc=True,
               encoder_normalize_before=True, decoder_normalize_before=True, duration_predictor_layers=2, duration_predictor_chans=256,
               duration_predictor_kernel_size=3, pitch_predictor_layers=5, pitch_predictor_chans=256, pitch_predictor_kernel_size=5,
               pitch_embed_kernel_size=1, energy_predictor_layers=2, energy_predictor_chans=256, energy_predictor_kernel_size=3,
               energy_embed_kernel_size=1, stop_gradient_from_pitch_predictor=True, stop_gradient_from_energy_predictor=False,
               transformer_enc_dropout_rate=0.0, transformer_enc_positional_dropout_rate=0.0, transformer_enc_attn_dropout_rate=0.0,
               transformer_dec_dropout_rate=0.0, transformer_dec_positional_dropout_rate=0.0, transformer_dec_attn_dropout_rate=0.0,
               postnet_dropout_rate=0.0)
    paddle.seed(SEED)
    model = FastSpeech2(**cfg)
    model.eval()
    # Seeded weights make the duration predictor's round(exp(x) - 1) 0 for every phone: an empty mel
    # that onnxruntime's convs refuse. Its last Linear is set to predict 3 frames per phone
    # (weight 0, bias log 4: exp(x) - 1 is 3 ± 1e-6, far from a rounding boundary), T_mel = 3 N.
    dp = model.duration_predictor.linear
    dp.weight.set_value(paddle.zeros_like(dp.weight))
    dp.bias.set_value(paddle.full_like(dp.bias, float(np.log(4.0))))

    class Infer(nn.Layer):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, text):
            return self.m.inference(text)[0]  # (mel, durations, pitch, energy)

    return Built(Infer(model), [("text", "int64", [None])], lambda n: _phones(268, n),
                 _definition("paddlespeech.t2s.models.fastspeech2.FastSpeech2.inference", cfg,
                             input="phone ids [N] -> mel [3 N, 80]",
                             note="duration predictor's last Linear set to weight 0, bias log 4: 3 frames per phone"))


def speedyspeech():
    import paddle
    import paddle.nn as nn
    from paddlespeech.t2s.models.speedyspeech import SpeedySpeech

    # examples/csmsc/tts2/conf/default.yaml
    cfg = dict(vocab_size=268, tone_size=12, encoder_hidden_size=128, encoder_kernel_size=3,
               encoder_dilations=[1, 3, 9, 27, 1, 3, 9, 27, 1, 1], duration_predictor_hidden_size=128, decoder_hidden_size=128,
               decoder_output_size=80, decoder_kernel_size=3, decoder_dilations=[1, 3, 9, 27, 1, 3, 9, 27, 1, 3, 9, 27, 1, 3, 9, 27, 1, 1],
               positional_dropout_rate=0.0)
    paddle.seed(SEED)
    model = SpeedySpeech(**cfg)
    model.eval()

    class Infer(nn.Layer):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, text, tones):
            return self.m.inference(text, tones)

    return Built(Infer(model), [("text", "int64", [None]), ("tones", "int64", [None])], lambda n: _phones(268, n, 12),
                 _definition("paddlespeech.t2s.models.speedyspeech.SpeedySpeech.inference", cfg,
                             input="phone ids [N], tone ids [N] -> mel [T_mel, 80]"))


MODELS = [
    ("speech-mdtc", "MDTC", mdtc),
    ("speech-mdtc-t100", "MDTC", fixed(mdtc, 100)),  # 1 s of 10 ms frames
    ("speech-hifigan", "hifigan", hifigan),
    ("speech-melgan", "MelGAN", melgan),
    ("speech-mb-melgan", "MultiBand MelGAN", mb_melgan),
    ("speech-pwgan", "Parallel WaveGAN", pwgan),
    ("speech-ecapa-tdnn", "ecapa-tdnn", ecapa),
    # Conv1d "same" padding computed from x.shape[-1]: a tensor with symbolic T, which pad3d refuses. 2 s:
    ("speech-ecapa-tdnn-t200", "ecapa-tdnn", fixed(ecapa, 200)),
    ("speech-ge2e", "GE2E", ge2e),
    ("speech-conformer-encoder", "conformer offline/online", _asr_encoder("ConformerEncoder", CONFORMER)),
    ("speech-transformer-encoder", "transformer offline/online", _asr_encoder("TransformerEncoder", TRANSFORMER)),
    # Their attention's `if mask.shape[2] > 0` becomes a cond on a symbolic T whose branches differ in rank. 1 s:
    ("speech-conformer-encoder-t100", "conformer offline/online", fixed(_asr_encoder("ConformerEncoder", CONFORMER), 100)),
    ("speech-transformer-encoder-t100", "transformer offline/online", fixed(_asr_encoder("TransformerEncoder", TRANSFORMER), 100)),
    ("speech-deepspeech2", "deepspeech2 offline/online", deepspeech2),
    ("speech-fastspeech2", "fastspeech2/fastpitch", fastspeech2),
    ("speech-speedyspeech", "speedyspeech", speedyspeech),
]
