// The three trainers on generated data (tones of two classes): the loss falls, the saved model
// reloads bit-identically (parameters and embeddings), a fixed seed gives the same file, resume
// continues exactly, and `earshot similarity --json` prints the learned score.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "audio/trim.h"
#include "core/file_util.h"
#include "models/detail/trained_networks.h"
#include "models/model_registry.h"
#include "models/pooling.h"
#include "test_support.h"
#include "train/trainer.h"

namespace earshot {
namespace {

namespace fs = std::filesystem;

// 2 × n_per_class one-second WAVs: class "low" = sines 200-400 Hz, class "high" = noise bursts.
struct ToneSet {
    std::vector<fs::path> files;
    std::vector<std::string> labels;
};
ToneSet make_tones(const fs::path& dir, int n_per_class) {
    ToneSet s;
    for (int i = 0; i < n_per_class; ++i) {
        auto low = testing::make_sine(200.0 + 20.0 * i, 1.0, 16000, 0.5f);
        auto high = testing::make_noise(1.0, 16000, 0.2f, 100 + static_cast<unsigned>(i));
        for (auto& [name, x] :
             {std::pair{std::string("low"), low}, std::pair{std::string("high"), high}}) {
            auto p = dir / (name + std::to_string(i) + ".wav");
            testing::write_wav16(p, x, 16000);
            s.files.push_back(p);
            s.labels.push_back(name);
        }
    }
    return s;
}

// XXH64 of a file's bytes (0 if unreadable), so that a mismatch prints two numbers.
std::uint64_t file_hash(const fs::path& p) {
    auto b = read_file_text(p);
    return b ? hash_bytes(b->data(), b->size()) : 0;
}

// Same tensors in the file after save -> load -> save.
void expect_reload_bit_identical(const fs::path& path, torch::nn::Module& fresh) {
    auto card = detail::load_trained_module(path, fresh);
    ASSERT_TRUE(card) << card.error().to_string();
    testing::TempDir dir;
    ASSERT_TRUE(detail::save_trained_module(dir / "again.st", *card, fresh));
    EXPECT_EQ(file_hash(path), file_hash(dir / "again.st"));
}

// Two independent loads embed a file identically.
void expect_same_embeddings(const std::string& model_name, const std::vector<float>& audio) {
    auto m1 = make_model(model_name, {});
    auto m2 = make_model(model_name, {});
    ASSERT_TRUE(m1) << m1.error().to_string();
    ASSERT_TRUE(m2);
    auto e1 = (*m1)->embed(audio);
    auto e2 = (*m2)->embed(audio);
    ASSERT_TRUE(e1) << e1.error().to_string();
    ASSERT_TRUE(e2);
    EXPECT_EQ(e1->segments.data, e2->segments.data);
    EXPECT_EQ(static_cast<int>(e1->segments.n_cols), (*m1)->info().dim);
}

TEST(ProjectionTrainerTest, LossFallsAndModelReloadsBitIdentically) {
    // 90-d "base vectors" (the mfcc model's dim, so proj:PATH can be loaded with base mfcc):
    // three classes around random centres plus noise, groups of 5.
    std::mt19937 rng(1234);
    std::normal_distribution<float> g(0.0f, 1.0f);
    Matrix x(120, 90);
    std::vector<std::string> labels, groups;
    std::vector<std::vector<float>> centres(3, std::vector<float>(90));
    for (auto& c : centres)
        for (auto& v : c) v = g(rng);
    for (std::size_t i = 0; i < 120; ++i) {
        for (std::size_t j = 0; j < 90; ++j) x.at(i, j) = centres[i % 3][j] + 2.0f * g(rng);
        labels.push_back("c" + std::to_string(i % 3));
        groups.push_back("g" + std::to_string(i / 5));
    }
    testing::TempDir dir;
    ProjectionTrainOptions o;
    o.dim = 16;
    o.epochs = 60;
    o.patience = 60;
    auto r = train_projection(x, labels, groups, "mfcc", dir / "p.st", o);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(r->train_losses.size(), 60u);
    EXPECT_LT(r->train_losses.back(), 0.8 * r->train_losses.front());
    EXPECT_GT(r->n_val, 0u);
    detail::ProjectionHead fresh(90, 16);
    expect_reload_bit_identical(dir / "p.st", *fresh);
    // Same seed, same file (same name too: the name holds the file stem and the weights' hash).
    fs::create_directory(dir / "again");
    ASSERT_TRUE(train_projection(x, labels, groups, "mfcc", dir / "again" / "p.st", o));
    EXPECT_EQ(file_hash(dir / "p.st"), file_hash(dir / "again" / "p.st"));
    expect_same_embeddings("proj:" + (dir / "p.st").string(),
                           testing::make_sine(440.0, 1.5, 16000));
}

TEST(AutoencoderTrainerTest, LossFallsReloadsAndResumesExactly) {
    testing::TempDir dir;
    auto tones = make_tones(dir.path(), 8);
    AutoencoderTrainOptions o;
    o.dim = 8;
    o.channels = 4;
    o.n_mels = 16;
    o.n_frames = 16;
    o.excerpt_s = 0.5;
    o.epochs = 6;
    o.batch_size = 4;
    o.patience = 10;
    o.val_fraction = 0.25;
    o.learning_rate = 3e-3;
    o.threads = 1;
    auto r = train_autoencoder(tones.files, dir / "ae.st", o);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(r->train_losses.size(), 6u);
    EXPECT_LT(r->train_losses.back(), r->train_losses.front());
    EXPECT_EQ(r->n_train + r->n_val, tones.files.size());
    detail::ConvAutoencoder fresh(16, 16, 4, 8);
    expect_reload_bit_identical(dir / "ae.st", *fresh);
    expect_same_embeddings("ae:" + (dir / "ae.st").string(), testing::make_sine(300, 1.0, 16000));

    // Interrupted after 3 epochs, resumed to 6: the same checkpoint as the uninterrupted run.
    AutoencoderTrainOptions first = o;
    first.epochs = 3;
    fs::create_directory(dir / "resumed");
    const fs::path out2 = dir / "resumed" / "ae.st";
    ASSERT_TRUE(train_autoencoder(tones.files, out2, first));
    AutoencoderTrainOptions rest = o;
    rest.resume = true;
    auto resumed = train_autoencoder(tones.files, out2, rest);
    ASSERT_TRUE(resumed) << resumed.error().to_string();
    EXPECT_EQ(resumed->start_epoch, 4);
    EXPECT_EQ(resumed->train_losses, r->train_losses);
    EXPECT_EQ(file_hash(dir / "ae.st"), file_hash(out2));

    // A damaged checkpoint is kCorruption (exit code 4), not an internal error.
    { std::ofstream(out2.string() + ".ckpt.optim", std::ios::trunc) << "not a torch archive"; }
    auto damaged_optim = train_autoencoder(tones.files, out2, rest);
    ASSERT_FALSE(damaged_optim);
    EXPECT_EQ(damaged_optim.error().code(), ErrorCode::kCorruption)
        << damaged_optim.error().to_string();
    EXPECT_NE(damaged_optim.error().message().find("--resume"), std::string::npos);
    { std::ofstream(out2.string() + ".ckpt", std::ios::trunc) << "garbage"; }
    auto damaged = train_autoencoder(tones.files, out2, rest);
    ASSERT_FALSE(damaged);
    EXPECT_EQ(damaged.error().code(), ErrorCode::kCorruption) << damaged.error().to_string();
}

TEST(SiameseTrainerTest, LearnsLabelsReloadsAndCliPrintsScore) {
    testing::TempDir dir;
    auto tones = make_tones(dir.path(), 8);
    SiameseTargets t;
    t.files = tones.files;
    t.keys = tones.labels;
    SiameseTrainOptions o;
    o.dim = 8;
    o.channels = 8;
    o.n_mels = 16;
    o.n_frames = 16;
    o.excerpt_s = 0.5;
    o.epochs = 8;
    o.pairs_per_epoch = 128;
    o.batch_size = 16;
    o.patience = 20;
    o.learning_rate = 3e-3;
    o.threads = 1;
    const fs::path out = dir / "s.st";
    auto r = train_siamese(t, out, o);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_LT(r->train_losses.back(), r->train_losses.front());
    detail::SiameseNet fresh(16, 8, 8);
    expect_reload_bit_identical(out, *fresh);
    expect_same_embeddings("siamese:" + out.string(), testing::make_sine(250, 1.0, 16000));

    // Learned score via the library and via the CLI agree.
    auto model = make_model("siamese:" + out.string(), {});
    ASSERT_TRUE(model);
    auto embed = [&](const fs::path& p) {
        auto audio = testing::read_wav16(p);  // trimmed as the engine does before embedding
        std::span<const float> content(audio);
        content = content.subspan(non_silent_range(content).begin);
        auto e = (*model)->embed(content);
        return pool_segments(*e, content, 16000);
    };
    auto s_same = learned_pair_score(**model, embed(tones.files[0]), embed(tones.files[2]));
    auto s_diff = learned_pair_score(**model, embed(tones.files[0]), embed(tones.files[1]));
    ASSERT_TRUE(s_same) << s_same.error().to_string();
    ASSERT_TRUE(s_diff);
    EXPECT_GT(*s_same, *s_diff);
    const std::string cmd = std::string(EARSHOT_BIN) + " similarity " + tones.files[0].string() +
                            " " + tones.files[2].string() + " --model siamese:" + out.string() +
                            " --json";
    std::FILE* pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buf[256];
    while (std::fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
    ASSERT_EQ(pclose(pipe), 0) << output;
    auto j = nlohmann::json::parse(output);
    ASSERT_TRUE(j.contains("score")) << output;
    EXPECT_NEAR(j["score"].get<double>(), *s_same, 1e-5);
    EXPECT_GE(j["score"].get<double>(), 0.0);
    EXPECT_LE(j["score"].get<double>(), 1.0);
    // A model without a learned score is refused.
    auto mfcc = make_model("mfcc", {});
    ASSERT_TRUE(mfcc);
    std::vector<float> v(90, 0.0f);
    EXPECT_EQ(learned_pair_score(**mfcc, v, v).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace earshot
