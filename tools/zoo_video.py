"""PaddleVideo models for tools/zoo_export_seq.py: backbone + head definitions from the `ppvideo`
package (2.3.1, installed --no-deps; it ships PaddleVideo's `paddlevideo` package inside its own
directory), wired as PaddleVideo's recognizers do, at the shapes of its configs (sizes recorded in
export.json). paddlevideo.modeling's __init__ files import resnext101 (paddle.fluid, gone in paddle
3): the packages are entered as bare namespaces and each backbone / head file imported directly."""

import importlib
import os
import sys
import types

from zoo_export_seq import LENGTHS, SEED, Built, _version, rng


def _pv(module):
    if "paddlevideo.modeling" not in sys.modules:
        from importlib.util import find_spec

        spec = find_spec("ppvideo")
        if spec is None:
            raise ImportError("ppvideo is not installed (pip install --no-deps ppvideo==2.3.1)")
        sys.path.insert(0, os.path.dirname(spec.origin))
        import paddlevideo

        base = os.path.dirname(paddlevideo.__file__)
        for name, path in (("paddlevideo.modeling", "modeling"), ("paddlevideo.modeling.backbones", "modeling/backbones"),
                           ("paddlevideo.modeling.heads", "modeling/heads")):
            m = types.ModuleType(name)
            m.__path__ = [os.path.join(base, path)]
            sys.modules[name] = m
        importlib.import_module("paddlevideo.modeling.losses")  # the heads build their loss from its registry
    return importlib.import_module(f"paddlevideo.modeling.{module}")


def video(backbone, bcfg, head, hcfg, shape, wiring, note="", symbolic=None, lo_hi=(-1, 1)):
    """wiring: how the recognizer feeds the head ("2d": N*T frames through the backbone, head(x,
    num_seg); "plain": head(backbone(x)); "none": the backbone alone). symbolic: the index of a
    dim of `shape` exported as None (a time axis), else fixed."""

    def build():
        import numpy as np
        import paddle
        import paddle.nn as nn

        paddle.seed(SEED)
        bb = getattr(_pv(f"backbones.{backbone[0]}"), backbone[1])(**bcfg)
        hd = getattr(_pv(f"heads.{head[0]}"), head[1])(**hcfg) if head else None

        class Recognizer(nn.Layer):
            def __init__(self):
                super().__init__()
                self.backbone, self.head = bb, hd

            def forward(self, x):
                if wiring == "2d":  # Recognizer2D.forward_net: [N, T, C, H, W] -> [N*T, C, H, W]
                    num_seg = x.shape[1]
                    y = self.backbone(paddle.reshape(x, [-1] + list(x.shape[2:])))
                    return self.head(y, num_seg)
                y = self.backbone(x)
                return self.head(y) if self.head is not None else y

        model = Recognizer()
        model.eval()
        spec = list(shape)
        if symbolic is not None:
            spec[symbolic] = None

        def feed(length):
            s = list(shape)
            if symbolic is not None:
                s[symbolic] = length
            return {"x": rng(length).uniform(*lo_hi, size=s).astype(np.float32)}

        definition = {"package": f"ppvideo=={_version('ppvideo')} (paddlevideo)",
                      "class": f"paddlevideo.modeling.backbones.{backbone[0]}.{backbone[1]}"
                               + (f" + heads.{head[0]}.{head[1]}" if head else ""),
                      "config": {"backbone": bcfg, "head": hcfg, "wiring": wiring}, **({"note": note} if note else {})}
        return Built(model, [("x", "float32", spec)], feed, definition, lengths=LENGTHS if symbolic is not None else None)

    return build


MODELS = [
    ("video-pptsm-r18", "PP-TSM", video(("resnet_tweaks_tsm", "ResNetTweaksTSM"), dict(depth=18, num_seg=8),
                                        ("pptsm_head", "ppTSMHead"), dict(num_classes=400, in_channels=512, num_seg=8, drop_ratio=0.5),
                                        [1, 8, 3, 224, 224], "2d", "PP-TSM's ResNet-vd tweaks TSM backbone at depth 18 instead of 50 (ONNX size)")),
    ("video-tsn-r18", "TSN", video(("resnet_tweaks_tsn", "ResNetTweaksTSN"), dict(layers=18),
                                   ("tsn_head", "TSNHead"), dict(num_classes=400, in_channels=512, drop_ratio=0.4),
                                   [1, 3, 3, 224, 224], "2d", "TSN (PP-TSN's backbone) at depth 18 instead of 50, 3 segments")),
    ("video-stgcn", "ST-GCN", video(("stgcn", "STGCN"), dict(in_channels=2, layout="fsd10"),
                                    ("stgcn_head", "STGCNHead"), dict(in_channels=256, num_classes=30),
                                    [1, 2, 64, 25, 1], "plain", "FSD-10 skeleton layout; frames symbolic", symbolic=2)),
    ("video-agcn", "AGCN", video(("agcn", "AGCN"), dict(in_channels=2),
                                 ("stgcn_head", "STGCNHead"), dict(in_channels=256, num_classes=30),
                                 [1, 2, 64, 25, 1], "plain", "FSD-10 skeleton layout; frames symbolic", symbolic=2)),
    ("video-ctrgcn", "CTR-GCN", video(("ctrgcn", "CTRGCN"), dict(num_point=25, num_person=2, in_channels=3),
                                      ("ctrgcn_head", "CTRGCNHead"), dict(in_channels=64, num_classes=60),
                                      [1, 3, 64, 25, 2], "plain", "NTU-RGB+D layout, 64 frames")),
    ("video-2s-agcn", "2s-AGCN", video(("agcn2s", "AGCN2s"), dict(num_point=25, num_person=2, in_channels=3),
                                       ("agcn2s_head", "AGCN2sHead"), dict(in_channels=64, num_classes=60, M=2),
                                       [1, 3, 64, 25, 2], "plain", "NTU-RGB+D layout, 64 frames")),
    ("video-mstcn", "MS-TCN", video(("ms_tcn", "MSTCN"), dict(num_stages=4, num_layers=10, num_f_maps=64, dim=2048, num_classes=48),
                                    None, {}, [1, 2048, 64], "none", "breakfast config; frames (feature steps) symbolic", symbolic=2)),
    ("video-bmn-t32", "BMN", video(("bmn", "BMN"), dict(tscale=32, dscale=32, prop_boundary_ratio=0.5, num_sample=32, num_sample_perbin=3, feat_dim=400),
                                   None, {}, [1, 400, 32], "none", "BMN at tscale = dscale = 32 instead of 100 (its sampling-mask constant grows as tscale^2 x dscale x num_sample)")),
    ("video-movinet-a0", "MoViNets", video(("movinet", "MoViNet"), dict(model_type="A0", causal=False, num_classes=600, conv_type="3d"),
                                          ("movinet_head", "MoViNetHead"), {}, [1, 3, 8, 172, 172], "plain", "MoViNet-A0, 8 frames of 172x172")),
]
