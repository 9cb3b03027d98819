"""PaddleDetection seed models for the zoo export (`tools/zoo_export.py`), built from `paddledet==2.6.0`'s
`ppdet.modeling` through ppdet's own config registry (`ppdet.core.workspace.create`).

The wheel has the modeling code but not the YAML configs the detectors are assembled from, so each
seed model's architecture section is written here, in ppdet's config form, with the values of its
official config (`configs/<family>/<name>.yml` in PaddleDetection 2.6: backbone, neck, head and the
shared width/depth multipliers). Loss, assigner and NMS sections are left out: they do not change the
inference graph.

What is exported is the network up to its head's decoded outputs, before NMS: the same cut as
PaddleDetection's `export.nms=False` deployment (oar decodes and runs NMS itself, as for
`picodet-layout-cdla`). For heads whose eval forward already ends in NMS, the raw head maps are the
outputs. Input sides are the official ones, except the R50-FPN detectors (800×1333 officially), run at
512×512 to keep the run short, as the segmenters are.
"""

_YOLO_ANCHORS = [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90], [156, 198], [373, 326]]
_YOLO3_HEAD = {"anchors": _YOLO_ANCHORS, "anchor_masks": [[6, 7, 8], [3, 4, 5], [0, 1, 2]], "loss": "YOLOv3Loss"}
_R50 = {"depth": 50, "variant": "b", "norm_type": "bn", "freeze_at": 0, "return_idx": [1, 2, 3], "num_stages": 4}
# ResNet50-vd with deformable convs (v2) in its last stage: PP-YOLO and PP-YOLOv2.
_R50_VD_DCN = {"depth": 50, "variant": "d", "return_idx": [1, 2, 3], "dcn_v2_stages": [3], "freeze_at": -1,
               "freeze_norm": False, "norm_decay": 0.0}
_FPN5 = {"out_channel": 256, "spatial_scales": [0.125, 0.0625, 0.03125], "extra_stage": 2, "has_extra_convs": True,
         "use_c5": False}

# name -> (architecture config, input side). Each config maps ppdet class names to their arguments, as
# a ppdet YAML does; "architecture" names the top one.
CONFIGS = {
    "picodet_s_320_coco_lcnet": ({
        "architecture": "PicoDet",
        "PicoDet": {"backbone": "LCNet", "neck": "LCPAN", "head": "PicoHeadV2"},
        "LCNet": {"scale": 0.75, "feature_maps": [3, 4, 5]},
        "LCPAN": {"out_channels": 96, "use_depthwise": True, "num_features": 4},
        "PicoHeadV2": {"conv_feat": {"name": "PicoFeat", "feat_in": 96, "feat_out": 96, "num_convs": 2,
                                     "num_fpn_stride": 4, "norm_type": "bn", "share_cls_reg": True, "use_se": True},
                       "fpn_stride": [8, 16, 32, 64], "feat_in_chan": 96, "prior_prob": 0.01, "reg_max": 7,
                       "cell_offset": 0.5, "grid_cell_scale": 5.0, "use_align_head": True,
                       "loss_class": "VarifocalLoss"},
    }, 320),
    "picodet_lcnet_1_5x_416_coco": ({
        "architecture": "PicoDet",
        "PicoDet": {"backbone": "LCNet", "neck": "CSPPAN", "head": "PicoHead"},
        "LCNet": {"scale": 1.5, "feature_maps": [3, 4, 5]},
        "CSPPAN": {"out_channels": 128, "use_depthwise": True, "num_csp_blocks": 1, "num_features": 4},
        "PicoHead": {"conv_feat": {"name": "PicoFeat", "feat_in": 128, "feat_out": 128, "num_convs": 4,
                                   "num_fpn_stride": 4, "norm_type": "bn", "share_cls_reg": True},
                     "fpn_stride": [8, 16, 32, 64], "feat_in_chan": 128, "prior_prob": 0.01, "reg_max": 7,
                     "cell_offset": 0.5, "loss_class": "VarifocalLoss"},
    }, 416),
    "picodet_s_320_coco": ({
        "architecture": "PicoDet",
        "PicoDet": {"backbone": "ESNet", "neck": "CSPPAN", "head": "PicoHead"},
        "ESNet": {"scale": 0.75, "feature_maps": [4, 11, 14], "act": "hard_swish",
                  "channel_ratio": [0.875, 0.5, 0.5, 0.5, 0.625, 0.5, 0.625, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]},
        "CSPPAN": {"out_channels": 96, "use_depthwise": True, "num_csp_blocks": 1, "num_features": 4},
        "PicoHead": {"conv_feat": {"name": "PicoFeat", "feat_in": 96, "feat_out": 96, "num_convs": 2,
                                   "num_fpn_stride": 4, "norm_type": "bn", "share_cls_reg": True},
                     "fpn_stride": [8, 16, 32, 64], "feat_in_chan": 96, "prior_prob": 0.01, "reg_max": 7,
                     "cell_offset": 0.5, "loss_class": "VarifocalLoss"},
    }, 320),
    "ppyoloe_crn_s_300e_coco": ({
        "architecture": "YOLOv3", "depth_mult": 0.33, "width_mult": 0.50,
        "YOLOv3": {"backbone": "CSPResNet", "neck": "CustomCSPPAN", "yolo_head": "PPYOLOEHead", "post_process": None},
        "CSPResNet": {"layers": [3, 6, 6, 3], "channels": [64, 128, 256, 512, 1024], "return_idx": [1, 2, 3],
                      "use_large_stem": True},
        "CustomCSPPAN": {"out_channels": [768, 384, 192], "stage_num": 1, "block_num": 3, "act": "swish", "spp": True},
        "PPYOLOEHead": {"fpn_strides": [32, 16, 8], "grid_cell_scale": 5.0, "grid_cell_offset": 0.5,
                        "static_assigner_epoch": 100, "use_varifocal_loss": True},
    }, 640),
    "ppyolo_tiny_650e_coco": ({
        "architecture": "YOLOv3",
        "YOLOv3": {"backbone": "MobileNetV3", "neck": "PPYOLOTinyFPN", "yolo_head": "YOLOv3Head", "post_process": None},
        "MobileNetV3": {"model_name": "large", "scale": 0.5, "with_extra_blocks": False, "extra_block_filters": [],
                        "feature_maps": [7, 13, 16]},
        "PPYOLOTinyFPN": {"detection_block_channels": [160, 128, 96], "spp": True, "drop_block": True},
        "YOLOv3Head": {"anchors": [[10, 15], [24, 36], [72, 42], [35, 87], [102, 96], [60, 170], [220, 125],
                                   [128, 222], [264, 266]],
                       "anchor_masks": [[6, 7, 8], [3, 4, 5], [0, 1, 2]], "loss": "YOLOv3Loss"},
    }, 320),
    "ppyolo_mbv3_large_coco": ({
        "architecture": "YOLOv3",
        "YOLOv3": {"backbone": "MobileNetV3", "neck": "PPYOLOFPN", "yolo_head": "YOLOv3Head", "post_process": None},
        "MobileNetV3": {"model_name": "large", "scale": 1.0, "with_extra_blocks": False, "extra_block_filters": [],
                        "feature_maps": [13, 16]},
        "PPYOLOFPN": {"in_channels": [160, 368], "coord_conv": True, "conv_block_num": 0, "spp": True,
                      "drop_block": True},
        "YOLOv3Head": {"anchors": [[11, 18], [34, 47], [51, 126], [115, 71], [120, 195], [254, 235]],
                       "anchor_masks": [[3, 4, 5], [0, 1, 2]], "loss": "YOLOv3Loss"},
    }, 320),
    "ppyolo_r50vd_dcn_1x_coco": ({
        "architecture": "YOLOv3",
        "YOLOv3": {"backbone": "ResNet", "neck": "PPYOLOFPN", "yolo_head": "YOLOv3Head", "post_process": None},
        "ResNet": _R50_VD_DCN,
        "PPYOLOFPN": {"coord_conv": True, "drop_block": True, "block_size": 3, "keep_prob": 0.9, "spp": True},
        "YOLOv3Head": _YOLO3_HEAD,
    }, 608),
    "ppyolov2_r50vd_dcn_365e_coco": ({
        "architecture": "YOLOv3",
        "YOLOv3": {"backbone": "ResNet", "neck": "PPYOLOPAN", "yolo_head": "YOLOv3Head", "post_process": None},
        "ResNet": _R50_VD_DCN,
        "PPYOLOPAN": {"drop_block": True, "block_size": 3, "keep_prob": 0.9, "spp": True},
        "YOLOv3Head": {**_YOLO3_HEAD, "iou_aware": True, "iou_aware_factor": 0.5},
    }, 640),
    "yolov3_mobilenet_v1_270e_coco": ({
        "architecture": "YOLOv3",
        "YOLOv3": {"backbone": "MobileNet", "neck": "YOLOv3FPN", "yolo_head": "YOLOv3Head", "post_process": None},
        "MobileNet": {"scale": 1, "feature_maps": [4, 6, 13], "with_extra_blocks": False, "extra_block_filters": []},
        "YOLOv3Head": _YOLO3_HEAD,
    }, 608),
    "yolov3_darknet53_270e_coco": ({
        "architecture": "YOLOv3",
        "YOLOv3": {"backbone": "DarkNet", "neck": "YOLOv3FPN", "yolo_head": "YOLOv3Head", "post_process": None},
        "DarkNet": {"depth": 53, "return_idx": [2, 3, 4]},
        "YOLOv3Head": _YOLO3_HEAD,
    }, 608),
    "yolox_s_300e_coco": ({
        "architecture": "YOLOX", "depth_mult": 0.33, "width_mult": 0.50, "act": "silu",
        "YOLOX": {"backbone": "CSPDarkNet", "neck": "YOLOCSPPAN", "head": "YOLOXHead"},
        "CSPDarkNet": {"arch": "X", "return_idx": [2, 3, 4], "depthwise": False},
        "YOLOCSPPAN": {"depthwise": False},
        "YOLOXHead": {"l1_epoch": 285, "depthwise": False, "loss_weight": {"cls": 1.0, "obj": 1.0, "iou": 5.0, "l1": 1.0},
                      "assigner": "SimOTAAssigner", "nms": "MultiClassNMS"},
    }, 640),
    "fcos_r50_fpn_1x_coco": ({
        "architecture": "FCOS",
        "FCOS": {"backbone": "ResNet", "neck": "FPN", "fcos_head": "FCOSHead"},
        "ResNet": _R50,
        "FPN": _FPN5,
        "FCOSHead": {"fcos_feat": {"name": "FCOSFeat", "feat_in": 256, "feat_out": 256, "num_convs": 4,
                                   "norm_type": "gn", "use_dcn": False},
                     "fpn_stride": [8, 16, 32, 64, 128], "prior_prob": 0.01, "fcos_loss": "FCOSLoss",
                     "norm_reg_targets": True, "centerness_on_reg": True},
    }, 512),
    "gfl_r50_fpn_1x_coco": ({
        "architecture": "GFL",
        "GFL": {"backbone": "ResNet", "neck": "FPN", "head": "GFLHead"},
        "ResNet": _R50,
        "FPN": _FPN5,
        "GFLHead": {"conv_feat": {"name": "FCOSFeat", "feat_in": 256, "feat_out": 256, "num_convs": 4,
                                  "norm_type": "gn", "use_dcn": False},
                    "fpn_stride": [8, 16, 32, 64, 128], "prior_prob": 0.01, "reg_max": 16},
    }, 512),
    "ttfnet_darknet53_1x_coco": ({
        "architecture": "TTFNet",
        "TTFNet": {"backbone": "DarkNet", "neck": "TTFFPN", "ttf_head": "TTFHead", "post_process": None},
        "DarkNet": {"depth": 53, "freeze_at": 0, "return_idx": [1, 2, 3, 4]},
        "TTFFPN": {"planes": [256, 128, 64], "shortcut_num": [3, 2, 1]},
        "TTFHead": {"hm_loss": "CTFocalLoss", "wh_loss": "GIoULoss"},
    }, 512),
    "retinanet_r50_fpn_1x_coco": ({
        "architecture": "RetinaNet",
        "RetinaNet": {"backbone": "ResNet", "neck": "FPN", "head": "RetinaHead"},
        "ResNet": _R50,
        "FPN": _FPN5,
        "RetinaHead": {"conv_feat": {"name": "RetinaFeat", "feat_in": 256, "feat_out": 256, "num_convs": 4,
                                     "norm_type": None, "use_dcn": False},
                       "anchor_generator": {"name": "RetinaAnchorGenerator", "octave_base_scale": 4,
                                            "scales_per_octave": 3, "aspect_ratios": [0.5, 1.0, 2.0],
                                            "strides": [8.0, 16.0, 32.0, 64.0, 128.0]},
                       "bbox_assigner": {"name": "MaxIoUAssigner", "positive_overlap": 0.5,
                                         "negative_overlap": 0.4, "allow_low_quality": True},
                       "loss_class": {"name": "FocalLoss", "gamma": 2.0, "alpha": 0.25, "loss_weight": 1.0},
                       "loss_bbox": {"name": "SmoothL1Loss", "beta": 0.0, "loss_weight": 1.0}},
    }, 512),
    "blazeface_1000e": ({
        "architecture": "BlazeFace",
        "BlazeFace": {"backbone": "BlazeNet", "neck": "BlazeNeck", "blaze_head": "FaceHead", "post_process": None},
        "BlazeNet": {"blaze_filters": [[24, 24], [24, 24], [24, 48, 2], [48, 48], [48, 48]],
                     "double_blaze_filters": [[48, 24, 96, 2], [96, 24, 96], [96, 24, 96],
                                              [96, 24, 96, 2], [96, 24, 96], [96, 24, 96]],
                     "act": "relu"},
        "BlazeNeck": {"neck_type": "None", "in_channel": [96, 96]},
        "FaceHead": {"in_channels": [96, 96], "anchor_generator": "AnchorGeneratorSSD", "loss": "SSDLoss"},
        "AnchorGeneratorSSD": {"steps": [8.0, 16.0], "aspect_ratios": [[1.0], [1.0]],
                               "min_sizes": [[16.0, 24.0], [32.0, 48.0, 64.0, 80.0, 96.0, 128.0]],
                               "max_sizes": [[], []], "offset": 0.5, "flip": False,
                               "min_max_aspect_ratios_order": False},
    }, 640),
    "hrnet_w32_256x192": ({
        "architecture": "TopDownHRNet",
        "TopDownHRNet": {"backbone": "HRNet", "post_process": None, "loss": None, "num_joints": 17, "width": 32},
        "HRNet": {"width": 32, "freeze_at": -1, "freeze_norm": False, "return_idx": [0]},
    }, (256, 192)),
    "higherhrnet_hrnet_w32_512": ({
        "architecture": "HigherHRNet",
        "HigherHRNet": {"backbone": "HRNet", "hrhrnet_head": "HrHRNetHead", "post_process": "HrHRNetPostProcess",
                        "eval_flip": False, "flip_perm": [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]},
        "HRNet": {"width": 32, "freeze_at": -1, "freeze_norm": False, "return_idx": [0]},
        "HrHRNetHead": {"num_joints": 17},
        "HrHRNetLoss": {"num_joints": 17, "swahr": False},
    }, 512),
}
# DARK is a decoding of the same heatmaps (distribution-aware coordinates): the same network.
CONFIGS["dark_hrnet_w32_256x192"] = CONFIGS["hrnet_w32_256x192"]


def names():
    return list(CONFIGS)


def raw_detector(arch):
    """The detector up to its head's outputs before NMS (see the module doc)."""
    import paddle

    class RawDetector(paddle.nn.Layer):
        def __init__(self, arch):
            super().__init__()
            self.arch = arch

        def forward(self, x):
            a = self.arch
            kind = type(a).__name__
            if kind == "TopDownHRNet":
                return a.final_conv(a.backbone({"image": x})[0])  # the keypoint heatmaps
            if kind == "HigherHRNet":
                return a.hrhrnet_head(a.backbone({"image": x}))  # averaged heatmaps, tag maps
            feats = a.backbone({"image": x})
            if getattr(a, "neck", None) is not None:
                feats = a.neck(feats)
            if kind == "BlazeFace":
                # FaceHead's forward also makes the prior boxes (constants oar makes itself) with a
                # `prior_box` op that Paddle 3's static graph refuses; its convs alone are the network.
                h = a.blaze_head
                maps = lambda convs, n: [paddle.reshape(paddle.transpose(c(f), [0, 2, 3, 1]), [0, -1, n])
                                         for f, c in zip(feats, convs)]
                return maps(h.box_convs, 4), maps(h.score_convs, h.num_classes)
            if kind == "PicoDet":
                return a.head(feats, True)  # scores and boxes decoded against the anchor grid, no NMS
            head = {"YOLOv3": "yolo_head", "FCOS": "fcos_head", "TTFNet": "ttf_head"}.get(kind, "head")
            return getattr(a, head)(feats)

    return RawDetector(arch)


def build(name):
    """The model (eval mode, seeded weights by the caller) and its input shape [1, 3, H, W]."""
    import copy

    import ppdet.modeling  # noqa: F401  (registers the classes)
    from ppdet.core.workspace import create, merge_config

    cfg, side = CONFIGS[name]
    merge_config(copy.deepcopy(cfg))  # into ppdet's global registry: one model per process
    arch = create(cfg["architecture"])
    h, w = side if isinstance(side, tuple) else (side, side)
    model = raw_detector(arch)
    model.eval()
    spread_constant_parameters(model)
    return model, [1, 3, h, w]


def spread_constant_parameters(model, std=0.01):
    """ppdet initialises its heads' last convs to zero weights and a prior bias, so with seeded weights
    the scores and boxes come out constant and comparing them would prove nothing. Every parameter
    whose values are all equal (those convs, BatchNorm's ones and zeros) gets seeded noise around its
    value."""
    import numpy as np

    rng = np.random.default_rng(0)
    for p in model.parameters():
        v = p.numpy()
        if v.size > 1 and np.all(v == v.flat[0]):
            p.set_value((v + rng.normal(0, std, v.shape)).astype(v.dtype))
