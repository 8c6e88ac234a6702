#include "models/torch_util.h"

#include <cstring>

#include "core/thread_pool.h"

// OpenBLAS (Debian's libtorch uses it for matrix products) starts its own pthread pool whose
// workers spin in sched_yield; next to our worker threads and libtorch's intra-op pool that
// oversubscribes the cores (measured: ~23k sched_yield calls indexing 40 short files). We run
// BLAS single-threaded and parallelise ourselves. Weak, so nothing breaks with another BLAS.
extern "C" void openblas_set_num_threads(int num_threads) __attribute__((weak));

namespace earshot::detail {

torch::Tensor to_torch(const Tensor& t) {
    auto out = torch::empty(t.shape, torch::kFloat32);
    if (!t.data.empty())
        std::memcpy(out.data_ptr<float>(), t.data.data(), t.data.size() * 4);
    return out;
}

Result<torch::Tensor> load_tensor(const SafeTensors& st,
                                  const std::string& name,
                                  const std::vector<std::int64_t>& shape) {
    if (shape.empty()) {
        EARSHOT_ASSIGN_OR_RETURN(const Tensor* t, st.get(name));
        return to_torch(*t);
    }
    EARSHOT_ASSIGN_OR_RETURN(const Tensor* t, st.get(name, shape));
    return to_torch(*t);
}

Matrix to_matrix(const torch::Tensor& t) {
    auto c = t.to(torch::kFloat32).contiguous();
    Matrix m(static_cast<std::size_t>(c.size(0)), static_cast<std::size_t>(c.size(1)));
    if (!m.data.empty())
        std::memcpy(m.data.data(), c.data_ptr<float>(), m.data.size() * 4);
    return m;
}

torch::Tensor from_matrix(const Matrix& m) {
    auto out =
        torch::empty({static_cast<std::int64_t>(m.n_rows), static_cast<std::int64_t>(m.n_cols)},
                     torch::kFloat32);
    if (!m.data.empty())
        std::memcpy(out.data_ptr<float>(), m.data.data(), m.data.size() * 4);
    return out;
}

void set_torch_threads(int threads) {
    if (openblas_set_num_threads != nullptr)
        openblas_set_num_threads(1);
    torch::set_num_threads(threads > 0 ? threads : hardware_threads());
}

}  // namespace earshot::detail
