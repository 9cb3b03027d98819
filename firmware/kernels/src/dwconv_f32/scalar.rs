//! The scalar reference rows: tap-outer over a whole output row, each product and sum rounded.

use super::{Act, Rows};

pub(crate) fn dw_rows(r: &Rows, w: &[f32], bias: f32, act: &Act, out: &mut [f32]) {
    let ow = r.ow;
    for (oy, dst) in out.chunks_exact_mut(ow).take(r.oh).enumerate() {
        let src = &r.plane[oy * r.row_step..];
        dst.fill(bias);
        for (&off, &wt) in r.offsets.iter().zip(w) {
            for (d, &v) in dst.iter_mut().zip(&src[off..off + ow]) {
                *d += wt * v;
            }
        }
        for d in dst.iter_mut() {
            *d = act.apply(*d);
        }
    }
}
