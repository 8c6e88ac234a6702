// Golden tests of YAMNet against ../shared/models/yamnet/reference (MODELS.md §3.2, §4).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "features/log_mel.h"
#include "features/presets.h"
#include "golden_util.h"
#include "models/detail/yamnet_network.h"
#include "models/model_factories.h"
#include "models/torch_util.h"
#include "test_support.h"

namespace earshot {
namespace {

// MODELS.md §3.2 atol table for YAMNet.
constexpr double kLogmelAtol = 1e-3;
constexpr double kEmbeddingAtol = 2e-3;
constexpr double kScoresAtol = 1e-4;
constexpr double kMinCosine = 0.9999;

std::filesystem::path yamnet_dir() {
    return testing::models_dir() / "yamnet";
}

class YamnetModelTest : public ::testing::Test {
protected:
    void SetUp() override {
        EARSHOT_REQUIRE_SHARED();
        detail::set_torch_threads(1);
        auto weights = load_safetensors(yamnet_dir() / "weights.safetensors");
        ASSERT_TRUE(weights) << weights.error().to_string();
        auto net = detail::YamnetNetwork::load(*weights, "yamnet weights");
        ASSERT_TRUE(net) << net.error().to_string();
        network_ = std::make_unique<detail::YamnetNetwork>(std::move(*net));
        reference_ = testing::load_reference(yamnet_dir() / "reference/reference.safetensors");
    }

    std::unique_ptr<EmbeddingModel> make_model(int threads = 1) {
        ModelOptions options;
        options.threads = threads;
        auto model = make_yamnet_model(yamnet_dir(), options);
        EXPECT_TRUE(model) << model.error().to_string();
        return model ? std::move(*model) : nullptr;
    }

    std::vector<float> read_clip(const std::string& clip) {
        int rate = 0;
        auto audio = testing::read_wav16(yamnet_dir() / "reference/clips" / (clip + ".wav"), &rate);
        EXPECT_EQ(rate, 16000);
        return audio;
    }

    std::unique_ptr<detail::YamnetNetwork> network_;
    SafeTensors reference_;
};

TEST_F(YamnetModelTest, NetworkMatchesReferenceOnEveryClip) {
    const torch::NoGradGuard no_grad;
    for (const auto& clip : testing::reference_clips()) {
        SCOPED_TRACE(clip);
        const auto logmel = testing::reference_tensor(reference_, clip + ".logmel");
        const auto ref_emb = testing::reference_tensor(reference_, clip + ".embeddings");
        const auto ref_scores = testing::reference_tensor(reference_, clip + ".scores");
        ASSERT_TRUE(logmel.defined());
        const auto out = network_->forward(logmel);
        const std::string tag = "yamnet net " + clip;
        testing::expect_allclose(out.embeddings, ref_emb, kEmbeddingAtol, tag + " embeddings");
        testing::expect_allclose(out.scores, ref_scores, kScoresAtol, tag + " scores");
        testing::expect_row_cosine(out.embeddings, ref_emb, kMinCosine, tag + " embeddings");
    }
}

TEST_F(YamnetModelTest, IntermediateLayersMatchOnSpeech) {
    const torch::NoGradGuard no_grad;
    const auto inter =
        testing::load_reference(yamnet_dir() / "reference/intermediates.safetensors");
    const auto patch0 = testing::reference_tensor(reference_, "speech.logmel").slice(0, 0, 1);
    std::vector<torch::Tensor> layers;
    network_->forward(patch0, &layers);
    ASSERT_EQ(layers.size(), static_cast<std::size_t>(detail::kYamnetNumLayers));
    for (int i = 0; i < detail::kYamnetNumLayers; ++i) {
        char name[32];
        std::snprintf(name, sizeof(name), "speech.p0.conv%02d", i);
        const auto ref = testing::reference_tensor(inter, name);
        // Activations grow to ~10 through the stack; same style of tolerance as embeddings.
        testing::expect_allclose(layers[static_cast<std::size_t>(i)], ref, kEmbeddingAtol,
                                 std::string("yamnet ") + name);
    }
}

TEST_F(YamnetModelTest, EndToEndMatchesReferenceOnEveryClip) {
    auto model = make_model();
    ASSERT_NE(model, nullptr);
    auto frontend = LogMelFrontend::make(yamnet_frontend_config());
    ASSERT_TRUE(frontend) << frontend.error().to_string();
    const auto expected_top3 = testing::read_expected_top3(yamnet_dir() / "reference/expected.md");
    for (const auto& clip : testing::reference_clips()) {
        SCOPED_TRACE(clip);
        const auto audio = read_clip(clip);
        ASSERT_FALSE(audio.empty());
        const std::string tag = "yamnet e2e " + clip;

        auto patches = detail::yamnet_patches(**frontend, audio);
        ASSERT_TRUE(patches) << patches.error().to_string();
        testing::expect_allclose(testing::to_tensor(*patches),
                                 testing::reference_tensor(reference_, clip + ".logmel"),
                                 kLogmelAtol, tag + " logmel");

        auto emb = model->embed(audio);
        ASSERT_TRUE(emb) << emb.error().to_string();
        const auto ref_emb = testing::reference_tensor(reference_, clip + ".embeddings");
        const auto ref_scores = testing::reference_tensor(reference_, clip + ".scores");
        const auto out_emb = testing::to_tensor(emb->segments);
        const auto out_scores = testing::to_tensor(emb->scores);
        testing::expect_allclose(out_emb, ref_emb, kEmbeddingAtol, tag + " embeddings");
        testing::expect_allclose(out_scores, ref_scores, kScoresAtol, tag + " scores");
        testing::expect_row_cosine(out_emb, ref_emb, kMinCosine, tag + " embeddings");

        ASSERT_EQ(expected_top3.count(clip), 1u);
        EXPECT_EQ(testing::top3_of_mean(out_scores), expected_top3.at(clip));

        ASSERT_EQ(emb->start_s.size(), emb->segments.n_rows);
        ASSERT_EQ(emb->end_s.size(), emb->segments.n_rows);
        for (std::size_t p = 0; p < emb->start_s.size(); ++p) {
            EXPECT_DOUBLE_EQ(emb->start_s[p], 0.48 * static_cast<double>(p));
            EXPECT_DOUBLE_EQ(emb->end_s[p], 0.48 * static_cast<double>(p) + 0.96);
        }
    }
}

TEST_F(YamnetModelTest, InfoDescribesTheModel) {
    auto model = make_model();
    ASSERT_NE(model, nullptr);
    const ModelInfo& info = model->info();
    EXPECT_EQ(info.name, "yamnet");
    EXPECT_EQ(info.dim, 1024);
    EXPECT_EQ(info.sample_rate_hz, 16000);
    EXPECT_EQ(info.license, "Apache-2.0");
    EXPECT_DOUBLE_EQ(info.segment_s, 0.96);
    EXPECT_DOUBLE_EQ(info.segment_hop_s, 0.48);
    ASSERT_EQ(info.labels.size(), 521u);
    EXPECT_EQ(info.labels[0], "Speech");
    EXPECT_EQ(info.labels[494], "Silence");
    EXPECT_EQ(info.weights_path, yamnet_dir() / "weights.safetensors");
}

TEST_F(YamnetModelTest, ShortAndEmptyClipsGiveOneSegment) {
    auto model = make_model();
    ASSERT_NE(model, nullptr);
    for (const double seconds : {0.0, 0.3, 0.96}) {
        SCOPED_TRACE(seconds);
        const auto audio = testing::make_sine(440.0, seconds, 16000);
        auto emb = model->embed(audio);
        ASSERT_TRUE(emb) << emb.error().to_string();
        EXPECT_EQ(emb->segments.n_rows, 1u);
        EXPECT_EQ(emb->segments.n_cols, 1024u);
        EXPECT_EQ(emb->scores.n_rows, 1u);
        EXPECT_EQ(emb->scores.n_cols, 521u);
    }
    // 0.96 s + 1 sample needs a second patch (§4.1: pad to 15600 + 7680).
    auto emb = model->embed(testing::make_sine(440.0, 15601.0 / 16000.0, 16000));
    ASSERT_TRUE(emb);
    EXPECT_EQ(emb->segments.n_rows, 2u);
}

TEST_F(YamnetModelTest, EmbedIsDeterministic) {
    auto model = make_model();
    ASSERT_NE(model, nullptr);
    const auto audio = read_clip("speech");
    auto a = model->embed(audio);
    auto b = model->embed(audio);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->segments.data, b->segments.data);
    EXPECT_EQ(a->scores.data, b->scores.data);
}

TEST_F(YamnetModelTest, ConcurrentEmbedsMatchSerial) {
    // embed() is const and documented as callable from several threads at once.
    auto model = make_model();
    ASSERT_NE(model, nullptr);
    const std::vector<std::vector<float>> clips = {read_clip("speech"), read_clip("music")};
    std::vector<Result<Embeddings>> serial;
    for (const auto& clip : clips) {
        serial.push_back(model->embed(clip));
    }
    std::vector<Result<Embeddings>> parallel(clips.size(), Embeddings{});
    {
        std::vector<std::thread> threads;
        for (std::size_t i = 0; i < clips.size(); ++i) {
            threads.emplace_back([&, i] { parallel[i] = model->embed(clips[i]); });
        }
        for (auto& t : threads) {
            t.join();
        }
    }
    for (std::size_t i = 0; i < clips.size(); ++i) {
        ASSERT_TRUE(serial[i] && parallel[i]);
        EXPECT_EQ(serial[i]->segments.data, parallel[i]->segments.data) << "clip " << i;
        EXPECT_EQ(serial[i]->scores.data, parallel[i]->scores.data) << "clip " << i;
    }
}

TEST_F(YamnetModelTest, OneAndTwoThreadsAgree) {
    auto model = make_model();
    ASSERT_NE(model, nullptr);
    const auto audio = read_clip("music");
    detail::set_torch_threads(1);
    auto one = model->embed(audio);
    detail::set_torch_threads(2);
    auto two = model->embed(audio);
    detail::set_torch_threads(1);
    ASSERT_TRUE(one && two);
    EXPECT_LE(
        testing::max_abs_diff(testing::to_tensor(one->segments), testing::to_tensor(two->segments)),
        1e-5);
    EXPECT_LE(
        testing::max_abs_diff(testing::to_tensor(one->scores), testing::to_tensor(two->scores)),
        1e-5);
}

// Reports embed() wall time for 2 s and 30 s clips with 1 and 2 threads. Disabled by default
// (timings on shared machines are noisy); run with --gtest_also_run_disabled_tests.
TEST_F(YamnetModelTest, DISABLED_ReportsEmbedTiming) {
    auto model = make_model();
    ASSERT_NE(model, nullptr);
    for (const int threads : {1, 2}) {
        detail::set_torch_threads(threads);
        for (const double seconds : {2.0, 30.0}) {
            const auto audio = testing::make_noise(seconds, 16000);
            ASSERT_TRUE(model->embed(audio));  // warm-up
            double elapsed = 1e30;             // best of 3
            for (int run = 0; run < 3; ++run) {
                const auto t0 = std::chrono::steady_clock::now();
                auto emb = model->embed(audio);
                elapsed = std::min(
                    elapsed,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                ASSERT_TRUE(emb);
            }
            std::printf("[timing] yamnet %4.0f s clip, %d thread(s): %.1f ms\n", seconds, threads,
                        elapsed * 1e3);
        }
    }
    detail::set_torch_threads(1);
}

TEST(YamnetModelErrorsTest, MissingWeightsIsNotFound) {
    const testing::TempDir dir;
    auto model = make_yamnet_model(dir.path(), ModelOptions{});
    ASSERT_FALSE(model);
    EXPECT_EQ(model.error().code(), ErrorCode::kNotFound);
    EXPECT_NE(model.error().message().find("weights.safetensors"), std::string::npos)
        << model.error().message();
}

TEST(YamnetModelErrorsTest, WrongWeightsAreCorruption) {
    EARSHOT_REQUIRE_SHARED();
    const testing::TempDir dir;
    // A valid safetensors file that lacks YAMNet's tensors (musicnn's weights).
    std::filesystem::copy_file(testing::models_dir() / "msd_musicnn/weights.safetensors",
                               dir / "weights.safetensors");
    auto model = make_yamnet_model(dir.path(), ModelOptions{});
    ASSERT_FALSE(model);
    EXPECT_EQ(model.error().code(), ErrorCode::kCorruption);
    EXPECT_NE(model.error().message().find("conv00_pw_w"), std::string::npos)
        << model.error().message();
    // A truncated file.
    {
        std::ofstream out(dir / "weights.safetensors", std::ios::binary | std::ios::trunc);
        out << "abc";
    }
    model = make_yamnet_model(dir.path(), ModelOptions{});
    ASSERT_FALSE(model);
    EXPECT_EQ(model.error().code(), ErrorCode::kCorruption);
}

}  // namespace
}  // namespace earshot
