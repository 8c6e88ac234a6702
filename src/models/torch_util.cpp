#include "models/torch_util.h"

#include <cstring>

#include <fmt/format.h>

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

Result<torch::Tensor> load_weight(const SafeTensors& st,
                                  const std::string& source,
                                  const std::string& name,
                                  const std::vector<std::int64_t>& shape,
                                  const std::string& hint) {
    auto t = load_tensor(st, name, shape);
    if (!t) {
        return make_error(ErrorCode::kCorruption,
                          hint.empty()
                              ? fmt::format("{}: {}", source, t.error().message())
                              : fmt::format("{}: {} ({})", source, t.error().message(), hint));
    }
    return std::move(*t);
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

Result<Embeddings> embed_patches(const Patches& patches,
                                 std::int64_t max_batch,
                                 double hop_s,
                                 double length_s,
                                 const std::string& model_name,
                                 const PatchForward& forward) {
    const auto n_patches = static_cast<std::int64_t>(patches.n_patches);
    Embeddings result;
    try {
        const c10::InferenceMode guard;
        const auto input =
            torch::from_blob(const_cast<float*>(patches.data.data()),
                             {n_patches, 1, static_cast<std::int64_t>(patches.patch_frames),
                              static_cast<std::int64_t>(patches.n_mels)},
                             torch::kFloat32);
        std::vector<torch::Tensor> embeddings;
        std::vector<torch::Tensor> scores;
        for (std::int64_t begin = 0; begin < n_patches; begin += max_batch) {
            const auto end = std::min(begin + max_batch, n_patches);
            auto [emb, sc] = forward(input.slice(0, begin, end));
            embeddings.push_back(emb);
            if (sc.defined())
                scores.push_back(sc);
        }
        result.segments = to_matrix(torch::cat(embeddings, 0));
        if (!scores.empty())
            result.scores = to_matrix(torch::cat(scores, 0));
    } catch (const std::exception& e) {
        return make_error(ErrorCode::kInternal,
                          fmt::format("{}: forward failed: {}", model_name, e.what()));
    }
    result.start_s.resize(patches.n_patches);
    result.end_s.resize(patches.n_patches);
    for (std::size_t p = 0; p < patches.n_patches; ++p) {
        result.start_s[p] = hop_s * static_cast<double>(p);
        result.end_s[p] = result.start_s[p] + length_s;
    }
    return result;
}

void set_torch_threads(int threads) {
    if (openblas_set_num_threads != nullptr)
        openblas_set_num_threads(1);
    torch::set_num_threads(threads > 0 ? threads : hardware_threads());
}

Result<Embeddings> PatchNetworkModel::embed(std::span<const float> audio) const {
    auto patches = patches_(*frontend_, audio);
    if (!patches)
        return tl::unexpected(patches.error().with_context(info_.name + " front end"));
    return embed_patches(*patches, max_batch_, info_.segment_hop_s, info_.segment_s, info_.name,
                         forward_);
}

}  // namespace earshot::detail
