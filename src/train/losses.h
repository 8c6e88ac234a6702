// Loss functions of the trainers (libtorch; internal to src/train, not part of its interface).
#pragma once

#include <torch/torch.h>

namespace earshot::detail {

// Supervised contrastive loss, Khosla et al. 2020 (arXiv:2004.11362) eq. 2 ("L_out"):
// z: [N, d] (L2-normalised here), labels: [N] int64. For anchor i with positives P(i) (same
// label, j != i): l_i = -1/|P(i)| Σ_{p∈P(i)} log( exp(z_i·z_p/τ) / Σ_{a≠i} exp(z_i·z_a/τ) ).
// Mean over anchors with at least one positive; 0 if there are none.
torch::Tensor supervised_contrastive_loss(const torch::Tensor& z,
                                          const torch::Tensor& labels,
                                          double temperature);

// Mean squared error.
torch::Tensor reconstruction_loss(const torch::Tensor& reconstruction, const torch::Tensor& target);

}  // namespace earshot::detail
