// Tests of the VGGish model (src/models/vggish_model.cpp). The real weights are not in ../shared,
// so the network tests write a SYNTHETIC checkpoint with the torchvggish layout (random tensors,
// fixed seed) into a TempDir and load it through the registry. They check wiring, shapes,
// segments, determinism and the flatten/PCA/quantisation logic; they say nothing about parity with
// the official model, which is unverified here.
#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/safetensors.h"
#include "features/log_mel.h"
#include "features/presets.h"
#include "models/detail/vggish_network.h"
#include "models/model_factories.h"
#include "models/model_registry.h"
#include "models/torch_util.h"
#include "test_support.h"

namespace earshot {
namespace {

Tensor from_torch(const torch::Tensor& t) {
    const auto c = t.to(torch::kFloat32).contiguous();
    Tensor out;
    out.shape = c.sizes().vec();
    out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    return out;
}

// Random tensors with the names and shapes tools/convert_vggish.py writes (He-scaled so the
// activations stay O(1) through the 9 layers).
SafeTensors synthetic_checkpoint() {
    torch::manual_seed(1234);
    SafeTensors st;
    auto add = [&](const std::string& name, std::vector<std::int64_t> shape, double fan_in) {
        st.tensors[name] = from_torch(torch::randn(shape) * std::sqrt(2.0 / fan_in));
    };
    const std::vector<std::array<std::int64_t, 3>> convs = {
        {0, 1, 64}, {3, 64, 128}, {6, 128, 256}, {8, 256, 256}, {11, 256, 512}, {13, 512, 512}};
    for (const auto& [idx, in, out] : convs) {
        add("features." + std::to_string(idx) + ".weight", {out, in, 3, 3},
            9.0 * static_cast<double>(in));
        add("features." + std::to_string(idx) + ".bias", {out}, 1e4);
    }
    const std::vector<std::array<std::int64_t, 3>> linears = {
        {0, 12288, 4096}, {2, 4096, 4096}, {4, 4096, 128}};
    for (const auto& [idx, in, out] : linears) {
        add("embeddings." + std::to_string(idx) + ".weight", {out, in}, static_cast<double>(in));
        add("embeddings." + std::to_string(idx) + ".bias", {out}, 1e4);
    }
    add("pproc._pca_matrix", {128, 128}, 2.0 * 128);
    add("pproc._pca_means", {128, 1}, 2.0);
    st.metadata["model"] = "vggish";
    st.metadata["note"] = "synthetic test checkpoint (random weights)";
    return st;
}

class VggishModelTest : public ::testing::Test {
protected:
    void SetUp() override {
        detail::set_torch_threads(1);
        checkpoint_ = synthetic_checkpoint();
        std::filesystem::create_directories(dir_ / "vggish");
        auto saved = save_safetensors(dir_ / "vggish" / "weights.safetensors", checkpoint_);
        ASSERT_TRUE(saved) << saved.error().to_string();
    }

    std::unique_ptr<EmbeddingModel> load(const detail::VggishOptions& o = {}) {
        ModelOptions options;
        options.models_dir = dir_.path();
        options.threads = 1;
        auto m = detail::make_vggish_model(dir_ / "vggish", options, o);
        EXPECT_TRUE(m) << m.error().to_string();
        return m ? std::move(*m) : nullptr;
    }

    torch::Tensor weight(const std::string& name) {
        return detail::to_torch(checkpoint_.tensors.at(name));
    }

    testing::TempDir dir_;
    SafeTensors checkpoint_;
};

TEST_F(VggishModelTest, LoadsThroughTheRegistryWithModelsDirAndCutsNonOverlappingPatches) {
    ModelOptions options;
    options.models_dir = dir_.path();
    options.threads = 1;
    auto model = make_model("vggish", options);
    ASSERT_TRUE(model) << model.error().to_string();
    const ModelInfo& info = (*model)->info();
    EXPECT_EQ(info.name, "vggish");
    EXPECT_EQ(info.dim, 128);
    EXPECT_EQ(info.sample_rate_hz, 16000);
    EXPECT_DOUBLE_EQ(info.segment_s, 0.96);
    EXPECT_DOUBLE_EQ(info.segment_hop_s, 0.96);
    EXPECT_TRUE(info.labels.empty());
    EXPECT_EQ(info.weights_path, dir_ / "vggish" / "weights.safetensors");

    // samples -> patches: T = 1 + (N - 400) / 160 frames, P = max(1, floor(T / 96)); short input
    // is zero-padded to 15600 samples (one patch), a trailing partial patch is dropped.
    const std::vector<std::pair<std::size_t, std::size_t>> cases = {
        {0, 1}, {8000, 1}, {15600, 1}, {30959, 1}, {30960, 2}, {48000, 3}, {16000 * 5, 5}};
    for (const auto& [n, expected] : cases) {
        auto audio = testing::make_noise(static_cast<double>(n) / 16000.0, 16000, 0.1f, 7);
        audio.resize(n);
        auto emb = (*model)->embed(audio);
        ASSERT_TRUE(emb) << emb.error().to_string();
        EXPECT_EQ(emb->segments.n_rows, expected) << n << " samples";
        EXPECT_EQ(emb->segments.n_cols, 128u);
        EXPECT_EQ(emb->scores.n_rows, 0u) << "no classifier head";
        ASSERT_EQ(emb->start_s.size(), expected);
        ASSERT_EQ(emb->end_s.size(), expected);
        for (std::size_t p = 0; p < expected; ++p) {
            EXPECT_NEAR(emb->start_s[p], 0.96 * static_cast<double>(p), 1e-12);
            EXPECT_NEAR(emb->end_s[p], emb->start_s[p] + 0.96, 1e-12);
        }
        for (float v : emb->segments.data) {
            ASSERT_TRUE(std::isfinite(v));
        }
    }
}

TEST_F(VggishModelTest, IsDeterministicAndMatchesTheTorchvggishComposition) {
    auto model = load();
    ASSERT_TRUE(model);
    const auto audio = testing::make_sine(440.0, 2.5, 16000, 0.3f);
    auto a = model->embed(audio);
    auto b = model->embed(audio);
    ASSERT_TRUE(a && b);
    ASSERT_EQ(a->segments.data, b->segments.data) << "same input, bit-identical output";

    // Reference: the same weights run the way torchvggish/vggish.py writes it (VGG.forward with
    // transpose(1,3), transpose(1,2); Postprocessor: mm(pca_matrix, x.T - pca_means).T).
    auto frontend = LogMelFrontend::make(detail::vggish_frontend_config());
    ASSERT_TRUE(frontend);
    auto patches = detail::vggish_patches(**frontend, audio);
    ASSERT_TRUE(patches);
    ASSERT_EQ(patches->n_patches, 2u);  // 2.5 s: T = 248 frames -> 2 patches, 56 frames dropped
    torch::NoGradGuard no_grad;
    auto x = torch::from_blob(patches->data.data(), {2, 1, 96, 64}, torch::kFloat32).clone();
    const int conv_idx[6] = {0, 3, 6, 8, 11, 13};
    for (int idx : conv_idx) {
        const std::string p = "features." + std::to_string(idx) + ".";
        x = torch::relu(torch::conv2d(x, weight(p + "weight"), weight(p + "bias"), 1, 1));
        if (idx == 0 || idx == 3 || idx == 8 || idx == 13) {
            x = torch::max_pool2d(x, 2, 2);
        }
    }
    ASSERT_EQ(x.sizes(), torch::IntArrayRef({2, 512, 6, 4}));
    x = torch::transpose(x, 1, 3);
    x = torch::transpose(x, 1, 2);
    x = x.contiguous().view({x.size(0), -1});
    for (int idx : {0, 2, 4}) {
        const std::string p = "embeddings." + std::to_string(idx) + ".";
        x = torch::relu(torch::linear(x, weight(p + "weight"), weight(p + "bias")));
    }
    x = torch::mm(weight("pproc._pca_matrix"), x.t() - weight("pproc._pca_means")).t();
    const auto ours = detail::from_matrix(a->segments);
    EXPECT_TRUE(torch::allclose(ours, x, /*rtol=*/1e-5, /*atol=*/1e-5))
        << "max |delta| " << (ours - x).abs().max().item<double>();
    EXPECT_GT(x.abs().max().item<double>(), 1e-3) << "synthetic weights give non-trivial output";
}

TEST_F(VggishModelTest, QuantizedAndRawOutputsAreOptionsWithTheirOwnNames) {
    auto pca = load();
    detail::VggishOptions q;
    q.output = detail::VggishOutput::kPcaQuantized;
    auto quantized = load(q);
    detail::VggishOptions r;
    r.output = detail::VggishOutput::kRaw;
    auto raw = load(r);
    ASSERT_TRUE(pca && quantized && raw);
    EXPECT_EQ(quantized->info().name, "vggish-uint8");
    EXPECT_EQ(raw->info().name, "vggish-raw");
    const auto audio = testing::make_noise(2.0, 16000, 0.2f, 99);
    auto ep = pca->embed(audio);
    auto eq = quantized->embed(audio);
    auto er = raw->embed(audio);
    ASSERT_TRUE(ep && eq && er);
    for (float v : eq->segments.data) {
        EXPECT_EQ(v, std::round(v));
        EXPECT_GE(v, 0.0f);
        EXPECT_LE(v, 255.0f);
    }
    for (float v : er->segments.data) {
        EXPECT_GE(v, 0.0f) << "raw embeddings come after torchvggish's final ReLU";
    }
    const auto expected_q = detail::vggish_quantize(detail::from_matrix(ep->segments));
    EXPECT_TRUE(torch::equal(detail::from_matrix(eq->segments), expected_q));
    const auto expected_pca = detail::vggish_pca(
        detail::from_matrix(er->segments), weight("pproc._pca_matrix"), weight("pproc._pca_means"));
    EXPECT_TRUE(torch::allclose(detail::from_matrix(ep->segments), expected_pca, 1e-5, 1e-5));
}

TEST(VggishTest, FlattenIsNhwcLikeTorchvggish) {
    // features[p][c][h][w] = p*1e6 + c + 1000 h + 100000 w (exact in float32).
    auto f = torch::empty({2, 512, 6, 4}, torch::kFloat32);
    auto acc = f.accessor<float, 4>();
    for (int p = 0; p < 2; ++p) {
        for (int c = 0; c < 512; ++c) {
            for (int h = 0; h < 6; ++h) {
                for (int w = 0; w < 4; ++w) {
                    acc[p][c][h][w] = static_cast<float>(p * 1000000 + c + 1000 * h + 100000 * w);
                }
            }
        }
    }
    const auto flat = detail::vggish_flatten(f);
    ASSERT_EQ(flat.sizes(), torch::IntArrayRef({2, 12288}));
    auto fa = flat.accessor<float, 2>();
    for (int p = 0; p < 2; ++p) {
        for (int h = 0; h < 6; ++h) {
            for (int w = 0; w < 4; ++w) {
                for (int c = 0; c < 512; ++c) {
                    // TF flattens [H][W][C]: index (h*4 + w)*512 + c.
                    ASSERT_EQ(fa[p][(h * 4 + w) * 512 + c],
                              static_cast<float>(p * 1000000 + c + 1000 * h + 100000 * w))
                        << p << " " << c << " " << h << " " << w;
                }
            }
        }
    }
    // The first elements, written out: (h0,w0,c0), (h0,w0,c1), ..., then (h0,w1,c0) at 512.
    EXPECT_EQ(fa[0][0], 0.0f);
    EXPECT_EQ(fa[0][1], 1.0f);
    EXPECT_EQ(fa[0][512], 100000.0f);
    EXPECT_EQ(fa[0][4 * 512], 1000.0f);
}

TEST(VggishTest, PcaMatchesAHandComputedCase) {
    // matrix row i has a single 2 at column (i+1) % 128; means all 0.5.
    // out[p][i] = sum_j M[i][j] (x[p][j] - 0.5) = 2 (x[p][(i+1) % 128] - 0.5).
    auto matrix = torch::zeros({128, 128});
    for (int i = 0; i < 128; ++i) {
        matrix[i][(i + 1) % 128] = 2.0;
    }
    const auto means = torch::full({128, 1}, 0.5);
    auto x = torch::empty({2, 128});
    for (int j = 0; j < 128; ++j) {
        x[0][j] = 0.01 * j;
        x[1][j] = 1.0;
    }
    const auto out = detail::vggish_pca(x, matrix, means);
    ASSERT_EQ(out.sizes(), torch::IntArrayRef({2, 128}));
    for (int i = 0; i < 128; ++i) {
        EXPECT_NEAR(out[0][i].item<double>(), 2.0 * (0.01 * ((i + 1) % 128) - 0.5), 1e-6) << i;
        EXPECT_NEAR(out[1][i].item<double>(), 1.0, 1e-6) << i;
    }
    // A non-symmetric 2×2 corner case written out: rows of M are output dims.
    auto m2 = torch::eye(128);
    m2[0][0] = 1.0;
    m2[0][1] = 3.0;  // out0 = (x0 - mu0) + 3 (x1 - mu1)
    m2[1][0] = -1.0;
    m2[1][1] = 0.0;  // out1 = -(x0 - mu0)
    auto mu = torch::zeros({128, 1});
    mu[0][0] = 1.0;
    mu[1][0] = -2.0;
    auto v = torch::zeros({1, 128});
    v[0][0] = 4.0;
    v[0][1] = 5.0;
    const auto o = detail::vggish_pca(v, m2, mu);
    EXPECT_FLOAT_EQ(o[0][0].item<float>(), 3.0f + 3.0f * 7.0f);
    EXPECT_FLOAT_EQ(o[0][1].item<float>(), -3.0f);
}

TEST(VggishTest, QuantizeClipsAndRoundsLikeTheAudioSetRelease) {
    const auto in = torch::tensor({-3.0f, -2.0f, -1.0f, 0.0f, 0.5f, 1.0f, 2.0f, 2.5f, 1.9999f});
    // (clamp(x, -2, 2) + 2) * 63.75, rounded half to even: 63.75 -> 64, 127.5 -> 128,
    // 159.375 -> 159, 191.25 -> 191, 254.99 -> 255.
    const auto expected =
        torch::tensor({0.0f, 0.0f, 64.0f, 128.0f, 159.0f, 191.0f, 255.0f, 255.0f, 255.0f});
    EXPECT_TRUE(torch::equal(detail::vggish_quantize(in), expected)) << detail::vggish_quantize(in);
}

TEST(VggishTest, FrontEndIsYamnetsWithLogOffset001) {
    // VGGish and YAMNet share the spectrogram and mel matrix (mel_features.py vs TF
    // linear_to_mel_weight_matrix); only the log offset differs (0.01 vs 0.001).
    auto vggish = LogMelFrontend::make(detail::vggish_frontend_config());
    auto yamnet = LogMelFrontend::make(yamnet_frontend_config());
    ASSERT_TRUE(vggish && yamnet);
    EXPECT_EQ((*vggish)->mel_matrix().data, (*yamnet)->mel_matrix().data);
    const auto audio = testing::make_noise(1.0, 16000, 0.1f, 3);
    auto v = (*vggish)->compute(audio);
    auto y = (*yamnet)->compute(audio);
    ASSERT_TRUE(v && y);
    ASSERT_EQ(v->n_rows, 98u);  // 1 + (16000 - 400) / 160
    ASSERT_EQ(v->n_cols, 64u);
    for (std::size_t i = 0; i < v->data.size(); ++i) {
        const double mel = std::exp(static_cast<double>(y->data[i])) - 0.001;
        ASSERT_NEAR(v->data[i], std::log(mel + 0.01), 1e-4) << i;
    }
    // Silence (and the zero padding of short clips) is ln(0.01).
    auto patches = detail::vggish_patches(**vggish, std::vector<float>(100, 0.0f));
    ASSERT_TRUE(patches);
    ASSERT_EQ(patches->n_patches, 1u);
    for (float x : patches->data) {
        ASSERT_NEAR(x, std::log(0.01), 1e-6);
    }
}

TEST(VggishTest, MissingWeightsAreReportedWithHowToMakeThem) {
    testing::TempDir empty;
    setenv("EARSHOT_MODELS_DIR", (empty / "env").c_str(), 1);
    setenv("EARSHOT_SHARED_DIR", (empty / "shared").c_str(), 1);
    setenv("XDG_DATA_HOME", (empty / "xdg").c_str(), 1);
    ModelOptions opts;
    opts.models_dir = empty / "flag";
    auto m = make_model("vggish", opts);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(m.error().message().find("vggish"), std::string::npos) << m.error().message();
    // `earshot models` prints the description next to MISSING: it says how to get the weights.
    bool listed = false;
    for (const auto& kind : model_kinds()) {
        if (std::string_view(kind.name) == "vggish") {
            listed = true;
            EXPECT_STREQ(kind.folder, "vggish");
            EXPECT_NE(std::string_view(kind.description).find("tools/convert_vggish.py"),
                      std::string_view::npos);
        }
    }
    EXPECT_TRUE(listed);
}

TEST(VggishTest, WrongShapeInTheWeightsIsCorruption) {
    testing::TempDir dir;
    SafeTensors st;
    st.tensors["features.0.weight"] = from_torch(torch::zeros({64, 1, 5, 5}));
    ASSERT_TRUE(save_safetensors(dir / "weights.safetensors", st));
    auto m = make_vggish_model(dir.path(), ModelOptions{});
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::kCorruption) << m.error().to_string();
    EXPECT_NE(m.error().message().find("features.0.weight"), std::string::npos)
        << m.error().message();
}

}  // namespace
}  // namespace earshot
