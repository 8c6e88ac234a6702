// libtorch helpers shared by the model adapters (the only files that include torch). Not part of
// the module's public interface: include only from src/models/*.cpp and model tests.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/matrix.h"
#include "core/safetensors.h"
#include "core/status.h"

namespace earshot::detail {

// Copies a safetensors tensor into a new float32 CPU torch tensor of the same shape.
torch::Tensor to_torch(const Tensor& t);
// Looks up name (optionally checking shape) and converts; errors as SafeTensors::get.
Result<torch::Tensor> load_tensor(const SafeTensors& st,
                                  const std::string& name,
                                  const std::vector<std::int64_t>& shape = {});
// Copies a 2-D float tensor (any strides) into a Matrix.
Matrix to_matrix(const torch::Tensor& t);
// Wraps a Matrix as a [n_rows, n_cols] tensor (copy).
torch::Tensor from_matrix(const Matrix& m);
// Sets libtorch's intra-op threads (0 = all cores). Process-wide.
void set_torch_threads(int threads);

}  // namespace earshot::detail
