#include "train/losses.h"

namespace earshot::detail {

torch::Tensor supervised_contrastive_loss(const torch::Tensor& z_in,
                                          const torch::Tensor& labels,
                                          double temperature) {
    const auto n = z_in.size(0);
    auto z = torch::nn::functional::normalize(
        z_in, torch::nn::functional::NormalizeFuncOptions().dim(1).eps(1e-12));
    auto logits = torch::matmul(z, z.t()) / temperature;
    auto self = torch::eye(n, torch::kBool);
    // Exclude a == i from the denominator: -inf on the diagonal.
    logits = logits.masked_fill(self, -std::numeric_limits<float>::infinity());
    auto log_prob = logits - torch::logsumexp(logits, 1, /*keepdim=*/true);
    auto positives = labels.unsqueeze(0).eq(labels.unsqueeze(1)).logical_and(self.logical_not());
    auto pos_f = positives.to(torch::kFloat32);
    auto n_pos = pos_f.sum(1);
    // masked_fill first so that -inf on the diagonal never meets a 0 weight (0 × -inf = NaN).
    auto per_anchor = -(log_prob.masked_fill(self, 0.0) * pos_f).sum(1);
    auto has_pos = n_pos.gt(0);
    if (!has_pos.any().item<bool>())
        return torch::zeros({}, torch::kFloat32);
    return (per_anchor.masked_select(has_pos) / n_pos.masked_select(has_pos)).mean();
}

torch::Tensor reconstruction_loss(const torch::Tensor& reconstruction,
                                  const torch::Tensor& target) {
    return torch::mse_loss(reconstruction, target);
}

}  // namespace earshot::detail
