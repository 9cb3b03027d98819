//! Resize plans: coefficient tables computed exactly as OpenCV's `resize` computes them for
//! INTER_LINEAR on u8 (`computeResizeLinear` with `INTER_RESIZE_COEF_BITS = 11`).

use crate::Kernels;

pub(crate) enum Mode {
    /// Same size: OpenCV copies.
    Copy,
    /// Exactly half size in both axes: OpenCV switches INTER_LINEAR to the INTER_AREA fast path.
    Area2,
    Linear { xofs: Vec<u32>, alpha: Vec<[i16; 2]>, yofs: Vec<[u32; 2]>, beta: Vec<[i16; 2]> },
}

pub(crate) struct Plan {
    pub mode: Mode,
    pub cn: usize,
    pub src_w: usize,
    pub dst_w: usize,
}

/// OpenCV: `fx = (float)((dx+0.5)*scale - 0.5); sx = cvFloor(fx); fx -= sx;`
fn coef(d: usize, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    (s as i64, f - s)
}

/// `saturate_cast<short>(float)`: cvRound, i.e. round half to even.
fn fix(c: f32) -> i16 {
    (c * 2048.0).round_ties_even() as i16
}

impl Plan {
    pub fn new(src_w: usize, src_h: usize, dst_w: usize, dst_h: usize, cn: usize) -> Plan {
        let mode = if src_w == dst_w && src_h == dst_h {
            Mode::Copy
        } else if src_w == 2 * dst_w && src_h == 2 * dst_h {
            Mode::Area2
        } else {
            // OpenCV divides twice: inv_scale = dst/src, scale = 1/inv_scale.
            let sx_scale = 1.0 / (dst_w as f64 / src_w as f64);
            let sy_scale = 1.0 / (dst_h as f64 / src_h as f64);
            let mut xofs = Vec::with_capacity(dst_w * cn);
            let mut alpha = Vec::with_capacity(dst_w * cn);
            for dx in 0..dst_w {
                let (mut sx, mut fx) = coef(dx, sx_scale);
                if sx < 0 {
                    sx = 0;
                    fx = 0.0;
                }
                if sx >= src_w as i64 - 1 {
                    sx = src_w as i64 - 1;
                    fx = 0.0;
                }
                let a = [fix(1.0 - fx), fix(fx)];
                for k in 0..cn {
                    xofs.push((sx as usize * cn + k) as u32);
                    alpha.push(a);
                }
            }
            // Vertically OpenCV clamps the row indices but keeps the weights.
            let clip = |s: i64| s.clamp(0, src_h as i64 - 1) as u32;
            let (yofs, beta) = (0..dst_h)
                .map(|dy| {
                    let (sy, fy) = coef(dy, sy_scale);
                    ([clip(sy), clip(sy + 1)], [fix(1.0 - fy), fix(fy)])
                })
                .unzip();
            Mode::Linear { xofs, alpha, yofs, beta }
        };
        Plan { mode, cn, src_w, dst_w }
    }

    /// Source rows that destination row `dy` reads.
    pub fn rows(&self, dy: usize) -> [usize; 2] {
        match &self.mode {
            Mode::Copy => [dy, dy],
            Mode::Area2 => [2 * dy, 2 * dy + 1],
            Mode::Linear { yofs, .. } => [yofs[dy][0] as usize, yofs[dy][1] as usize],
        }
    }
}

/// Streams destination rows out of a plan. The source rows come from `fetch(y, buf)`, which writes
/// source row `y` (packed, `src_w*cn` bytes) into `buf`; at most two source rows are alive at once,
/// so a caller converting pixel formats on the fly never builds a full-size intermediate image.
pub(crate) struct RowStream<'p> {
    plan: &'p Plan,
    k: &'p Kernels,
    src: [Vec<u8>; 2],
    hor: [Vec<i32>; 2],
    key: [usize; 2],
}

impl<'p> RowStream<'p> {
    pub fn new(plan: &'p Plan, k: &'p Kernels) -> Self {
        let sw = plan.src_w * plan.cn;
        let dw = plan.dst_w * plan.cn;
        RowStream {
            plan,
            k,
            src: [vec![0; sw], vec![0; sw]],
            hor: [vec![0; dw], vec![0; dw]],
            key: [usize::MAX; 2],
        }
    }

    /// Makes source row `y` resident (and its horizontal pass, for linear) and returns its slot.
    fn load(&mut self, y: usize, fetch: &mut impl FnMut(usize, &mut [u8])) -> usize {
        if let Some(slot) = self.key.iter().position(|&k| k == y) {
            return slot;
        }
        // Evict the slot holding the smaller row index: rows are consumed in increasing order.
        let slot = if self.key[0] == usize::MAX || (self.key[1] != usize::MAX && self.key[0] < self.key[1]) {
            0
        } else {
            1
        };
        fetch(y, &mut self.src[slot]);
        if let Mode::Linear { xofs, alpha, .. } = &self.plan.mode {
            (self.k.hresize)(&self.src[slot], self.plan.cn, xofs, alpha, &mut self.hor[slot]);
        }
        self.key[slot] = y;
        slot
    }

    pub fn row(&mut self, dy: usize, out: &mut [u8], fetch: &mut impl FnMut(usize, &mut [u8])) {
        let [y0, y1] = self.plan.rows(dy);
        let s0 = self.load(y0, fetch);
        let s1 = self.load(y1, fetch);
        match &self.plan.mode {
            Mode::Copy => out.copy_from_slice(&self.src[s0]),
            Mode::Area2 => (self.k.area2)(&self.src[s0], &self.src[s1], self.plan.cn, out),
            Mode::Linear { beta, .. } => {
                let b = beta[dy];
                (self.k.vresize)(&self.hor[s0], &self.hor[s1], b[0], b[1], out)
            }
        }
    }
}
