//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008) solved by conjugate gradient (Takács et al. 2011).
//!
//! Model: for every user u and item i, preference `p = 1` if `r_ui > 0` else `0`, confidence
//! `c = 1 + alpha * r_ui` (so `c = 1` for unobserved pairs). Loss:
//! `sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + lambda (|X|^2 + |Y|^2)`.
//! Note: the `implicit` Python library takes the matrix *already* multiplied by alpha and uses
//! `c = alpha * r` on the non-zeros, so its `alpha = a` with counts `r` corresponds to our
//! confidence `1 + a*r` only approximately; here `alpha` multiplies the raw weight and 1 is added.
//!
//! Each half-iteration fixes one side (Y) and solves, for every row u,
//! `(YtY + lambda I + sum_{i in u} (c_ui - 1) y_i y_i^T) x_u = sum_{i in u} c_ui y_i`
//! by a few CG steps warm-started from the current `x_u`, never forming the matrix: `YtY` is
//! computed once per half-iteration (sgemm) and each row's sparse part is applied from its own
//! non-zeros, which stay in cache across the CG steps of that row. Rows are independent, so the
//! result is bit-identical whatever the number of rayon threads.
//!
//! `model` holds the factors and the training loop, `format` the file they are stored as,
//! `kernels` the solves.

mod format;
mod kernels;
mod model;
#[cfg(test)]
mod tests;

pub use format::ModelError;
// Other modules' tests compare their scores against the same dot product.
#[cfg(test)]
pub(crate) use kernels::dot;
pub use model::{AlsModel, AlsParams};
