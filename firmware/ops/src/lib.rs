//! oar's own tract ops, running `oar-kernels`:
//! - [`QConv`]: int8 depthwise 3×3 / 5×5 and pointwise 1×1 convolutions with the fused epilogue
//!   (bias, per-channel requantization, activation) writing int8 or f32;
//! - [`DwConvF32`]: float depthwise 3×3 / 5×5 convolutions with the BatchNorm scale folded in and
//!   the activation (ReLU, clip, hard-swish) fused;
//! - [`PwConvF32`]: float pointwise 1×1 convolutions, likewise with BatchNorm and activation fused;
//! - [`ConvF32`]: float k×k convolutions with few input channels (the stem), likewise, padding in
//!   its im2col;
//! - [`DeformConv`]: ONNX's deformable convolution (v2, with mask), f32, which tract lacks;
//! - their NNEF form (fragments with a versioned name, [`OPS`]), added to a framework by
//!   [`register`] (`oar_plan::nnef()` does it, so plans using them load on the device);
//! - [`lower()`]: the pass that replaces tract's quantized `Conv` nodes of those shapes by oar ops;
//!   [`lower_float()`]: the one that replaces tract's float depthwise `Conv` and pointwise `Conv` /
//!   `EinSum` (and what follows them).

mod conv_f32;
mod deform_conv;
mod dwconv_f32;
mod lower;
mod lower_float;
mod nnef;
mod pool;
mod pwconv_f32;
mod qconv;
mod weights;

pub use conv_f32::{ConvF32, CONV_MAX_DEPTH};
pub use deform_conv::{DeformConv, DeformIm2Col};
pub use dwconv_f32::DwConvF32;
pub use lower::lower;
pub use lower_float::lower_float;
pub use nnef::register;
pub use pool::{configure_tract_threading, pool_threads, set_split_threshold, set_tract_split_elements, split_threshold, DEFAULT_SPLIT_MACS, TRACT_SPLIT_ELEMENTS};
pub use pwconv_f32::PwConvF32;
pub use oar_kernels::{Activation, FloatActivation};
pub use qconv::{Family, OutQuant, QConv};
pub use weights::WeightsI8;

/// An op as a plan refers to it: NNEF fragment name and version, and the first oar release
/// whose runtime has it (written into plan manifests, so that an older runtime can say which
/// release to use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpId {
    pub name: &'static str,
    pub version: u32,
    pub since: &'static str,
}

/// The float depthwise conv (not indexed by position in [`OPS`]: that list grows).
pub const DWCONV_F32: OpId = OpId { name: "oar_dwconv_f32", version: 1, since: "0.2.0" };
/// The float pointwise conv.
pub const PWCONV_F32: OpId = OpId { name: "oar_pwconv_f32", version: 1, since: "0.3.0" };
/// The float k×k conv with few input channels.
pub const CONV_F32: OpId = OpId { name: "oar_conv_f32", version: 1, since: "0.3.0" };
/// A float layer's weights stored as int8.
pub const WEIGHTS_I8: OpId = OpId { name: "oar_weights_i8", version: 1, since: "0.2.0" };

/// ONNX `DeformConv` (deformable convolution v2, mask optional).
pub const DEFORM_CONV: OpId = OpId { name: "oar_deform_conv", version: 1, since: "0.3.0" };

/// Every op this runtime provides. Version 2 of the int8 convs writes int8 with one scale per
/// output channel (a fifth input), for a depthwise consumer whose input is quantized per channel.
/// `oar_dwconv_f32` is the float depthwise conv with its activation fused ([`DwConvF32`]);
/// `oar_weights_i8` holds a float layer's weights as int8 ([`WeightsI8`]); `oar_pwconv_f32` is the
/// float pointwise conv with its activation fused ([`PwConvF32`]); `oar_conv_f32` the float stem
/// conv ([`ConvF32`]); `oar_deform_conv` is ONNX's deformable convolution ([`DeformConv`]).
pub const OPS: [OpId; 9] = [
    OpId { name: "oar_qconv_dw", version: 1, since: "0.1.0" },
    OpId { name: "oar_qconv_pw", version: 1, since: "0.1.0" },
    OpId { name: "oar_qconv_dw", version: 2, since: "0.2.0" },
    OpId { name: "oar_qconv_pw", version: 2, since: "0.2.0" },
    DWCONV_F32,
    WEIGHTS_I8,
    PWCONV_F32,
    CONV_F32,
    DEFORM_CONV,
];

/// Whether this runtime provides op `name` at `version`.
pub fn has_op(name: &str, version: u32) -> bool {
    OPS.iter().any(|o| o.name == name && o.version == version)
}

/// The oar ops a model uses (for the plan manifest), each once, sorted by name.
pub fn required_ops(model: &tract_nnef::internal::TypedModel) -> Vec<OpId> {
    let mut ops: Vec<OpId> = model
        .nodes()
        .iter()
        .filter_map(|n| {
            n.op_as::<QConv>()
                .map(|op| op.op_id())
                .or_else(|| n.op_as::<DwConvF32>().map(|op| op.op_id()))
                .or_else(|| n.op_as::<PwConvF32>().map(|op| op.op_id()))
                .or_else(|| n.op_as::<ConvF32>().map(|op| op.op_id()))
                .or_else(|| n.op_as::<WeightsI8>().map(|op| op.op_id()))
                .or_else(|| n.op_as::<DeformConv>().map(|op| op.op_id()))
        })
        .collect();
    ops.sort_by_key(|o| (o.name, o.version));
    ops.dedup();
    ops
}
