//! The scalar reference panel: one output at a time, inputs in order, each product and sum rounded.

use super::Panel;
use crate::dwconv_f32::Act;

/// Output channels per panel of the scalar table.
pub(crate) const MR: usize = 4;

/// Safety: the panel's pointers cover its rows and columns.
pub(crate) unsafe fn panel(p: &Panel, act: &Act) {
    for r in 0..p.rows {
        let bias = *p.bias.add(r);
        for c in 0..p.cols {
            let mut acc = bias;
            for i in 0..p.inputs {
                acc += *p.w.add(i * MR + r) * *p.x.add(i * p.x_stride + c);
            }
            *p.out.add(r * p.out_stride + c) = act.apply(acc);
        }
    }
}
