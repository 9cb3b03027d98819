"""PaddleGAN generators for tools/zoo_export_seq.py: definitions from the `ppgan` package (2.1.0,
installed --no-deps), fixed small input shapes, sizes recorded in export.json.

ppgan.models/__init__ and ppgan.models.generators/__init__ import modules that use paddle.fluid
(gone in paddle 3: starganv2_model, generator_firstorder, wav2lip_hq_model): the two packages are
entered as bare namespaces here and each generator's own file is imported directly."""

import importlib
import os
import sys
import types

from zoo_export_seq import SEED, Built, _version, rng


def _generators(module):
    if "ppgan.models.generators" not in sys.modules:
        import ppgan

        base = os.path.join(os.path.dirname(ppgan.__file__), "models")
        for name, path in (("ppgan.models", base), ("ppgan.models.generators", os.path.join(base, "generators"))):
            m = types.ModuleType(name)
            m.__path__ = [path]
            sys.modules[name] = m
    return importlib.import_module(f"ppgan.models.generators.{module}")


def gan(module, cls, cfg, inputs, note=""):
    """inputs: [(name, shape, (lo, hi))], uniform values."""

    def build():
        import numpy as np
        import paddle

        paddle.seed(SEED)
        model = getattr(_generators(module), cls)(**cfg)
        model.eval()

        def feed(_length):
            r = rng(None)
            return {n: r.uniform(lo, hi, size=s).astype(np.float32) for n, s, (lo, hi) in inputs}

        definition = {"package": f"ppgan=={_version('ppgan')}", "class": f"ppgan.models.generators.{module}.{cls}", "config": cfg,
                      **({"note": note} if note else {})}
        return Built(model, [(n, "float32", s) for n, s, _ in inputs], feed, definition, lengths=None)

    return build


IMG = lambda h, w=None: [("x", [1, 3, h, w or h], (0, 1))]  # noqa: E731

MODELS = [
    ("gan-lesrcnn-x4", "LESRCNN", gan("lesrcnn", "LESRCNNGenerator", dict(scale=4, multi_scale=False, group=1), IMG(32))),
    ("gan-esrgan-rrdb6", "ESRGAN", gan("rrdb_net", "RRDBNet", dict(in_nc=3, out_nc=3, nf=64, nb=6, gc=32), IMG(32),
                                      "ESRGAN's RRDBNet with 6 RRDB blocks instead of 23 (ONNX size)")),
    ("gan-realsr-rrdb6", "RealSR", gan("rrdb_net", "RRDBNet", dict(in_nc=3, out_nc=3, nf=64, nb=6, gc=32), IMG(32),
                                      "RealSR's generator is ESRGAN's RRDBNet; 6 blocks instead of 23")),
    ("gan-drn-x4", "DRN", gan("drn", "DRNGenerator", dict(scale=(2, 4), n_blocks=30, n_feats=16, n_colors=3, rgb_range=255), [("x", [1, 3, 32, 32], (0, 255))])),
    ("gan-pan-x4", "PAN", gan("pan", "PAN", dict(in_nc=3, out_nc=3, nf=40, unf=24, nb=16, scale=4), IMG(32))),
    ("gan-pix2pix-unet", "Pix2Pix", gan("unet", "UnetGenerator", dict(input_nc=3, output_nc=3, num_downs=8, ngf=16, norm_type="batch"),
                                        [("x", [1, 3, 256, 256], (-1, 1))], "pix2pix's U-Net-256 with ngf 16 instead of 64")),
    ("gan-cyclegan-resnet", "CycleGAN", gan("resnet", "ResnetGenerator", dict(input_nc=3, output_nc=3, ngf=32, norm_type="instance", n_blocks=9),
                                            [("x", [1, 3, 128, 128], (-1, 1))], "CycleGAN's 9-block ResNet generator with ngf 32 instead of 64")),
    ("gan-animeganv2", "AnimeGAN2", gan("generater_animegan", "AnimeGenerator", {}, [("x", [1, 3, 128, 128], (-1, 1))])),
    ("gan-dcgan", "DCGAN", gan("dcgenerator", "DCGenerator", dict(input_nz=100, input_nc=3, output_nc=1, ngf=64, norm_type="batch"),
                               [("z", [1, 100, 1, 1], (-1, 1))])),
    ("gan-photo2cartoon", "Photo2Cartoon", gan("resnet_ugatit_p2c", "ResnetUGATITP2CGenerator",
                                               dict(input_nc=3, output_nc=3, ngf=32, img_size=256, n_blocks=4, light=True),
                                               [("x", [1, 3, 256, 256], (-1, 1))])),
    ("gan-ugatit-light", "U-GAT-IT", gan("resnet_ugatit", "ResnetUGATITGenerator",
                                         dict(input_nc=3, output_nc=3, ngf=32, n_blocks=4, img_size=128, light=True),
                                         [("x", [1, 3, 128, 128], (-1, 1))], "U-GAT-IT light with ngf 32 / 4 blocks instead of 64 / 6")),
    ("gan-mprnet-small", "MPRNet", gan("mpr", "MPRNet", dict(in_c=3, out_c=3, n_feat=40, scale_unetfeats=20, scale_orsnetfeats=16, num_cab=8),
                                       [("x", [1, 3, 64, 64], (0, 1))], "MPRNet with 40 / 20 / 16 features instead of 96 / 48 / 32")),
    ("gan-edvr-small", "EDVR", gan("edvr", "EDVRNet", dict(in_nf=3, out_nf=3, scale_factor=4, nf=32, nframes=5, groups=4, front_RBs=5, back_RBs=5),
                                   [("x", [1, 5, 3, 32, 32], (0, 1))], "EDVR with nf 32 / 5+5 blocks instead of 64 / 5+10")),
]
