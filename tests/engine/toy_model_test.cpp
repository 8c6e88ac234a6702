// A model defined in a test file: one ModelKind row registered at run time
// (register_model_kind), then used end to end through the engine (index a folder, search it,
// list it) exactly as a built-in model is. docs/adding-a-model.md points here.
#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

#include "engine/engine.h"
#include "models/model_registry.h"
#include "test_support.h"

namespace earshot {
namespace {

constexpr int kRateHz = 16000;
constexpr double kBandsHz[] = {250, 500, 750, 1000, 1250, 1500, 1750, 2000};
constexpr std::size_t kDim = std::size(kBandsHz);

// Toy embedding: the power at eight frequencies (Goertzel) of each 0.5 s segment, L2-normalised.
class ToyToneModel final : public EmbeddingModel {
public:
    explicit ToyToneModel(ModelInfo info) : info_(std::move(info)) {}
    const ModelInfo& info() const override { return info_; }
    Result<Embeddings> embed(std::span<const float> audio) const override {
        const std::size_t seg = kRateHz / 2;
        const std::size_t n = std::max<std::size_t>(1, (audio.size() + seg - 1) / seg);
        Embeddings e;
        e.segments = Matrix(n, kDim);
        for (std::size_t s = 0; s < n; ++s) {
            auto part = audio.subspan(std::min(audio.size(), s * seg));
            part = part.first(std::min(part.size(), seg));
            double norm = 0.0;
            for (std::size_t b = 0; b < kDim; ++b) {
                const double w = 2.0 * std::numbers::pi * kBandsHz[b] / kRateHz;
                double re = 0.0, im = 0.0;
                for (std::size_t i = 0; i < part.size(); ++i) {
                    re += part[i] * std::cos(w * double(i));
                    im += part[i] * std::sin(w * double(i));
                }
                const double p = re * re + im * im + 1e-9;
                e.segments.at(s, b) = static_cast<float>(p);
                norm += p * p;
            }
            for (std::size_t b = 0; b < kDim; ++b)
                e.segments.at(s, b) = static_cast<float>(e.segments.at(s, b) / std::sqrt(norm));
            e.start_s.push_back(0.5 * double(s));
            e.end_s.push_back(0.5 * double(s + 1));
        }
        return e;
    }

private:
    ModelInfo info_;
};

// The whole model definition: one row.
const ModelKind kToyToneKind{
    .name = "toy-tone",
    .factory = [](const ModelSource&,
                  const ModelOptions&) -> Result<std::unique_ptr<EmbeddingModel>> {
        ModelInfo info;
        info.name = "toy-tone";
        info.description = "power at eight frequencies per 0.5 s (test model)";
        info.license = "n/a (test)";
        info.dim = static_cast<int>(kDim);
        info.sample_rate_hz = kRateHz;
        info.segment_s = 0.5;
        info.segment_hop_s = 0.5;
        return std::make_unique<ToyToneModel>(std::move(info));
    },
    .description = "power at eight frequencies per 0.5 s (test model)",
    .license = "n/a (test)",
};

TEST(ToyModelTest, ARowRegisteredFromATestIsUsableEndToEnd) {
    ASSERT_TRUE(register_model_kind(kToyToneKind));
    EXPECT_NE(model_names().find("toy-tone"), std::string::npos);

    testing::TempDir dir;
    std::filesystem::create_directory(dir / "lib");
    for (int hz : {250, 1000, 1750})
        testing::write_wav16(dir / "lib" / (std::to_string(hz) + ".wav"),
                             testing::make_sine(hz, 1.5, kRateHz), kRateHz);
    testing::write_wav16(dir / "query.wav", testing::make_sine(1000, 1.0, kRateHz, 0.3f), kRateHz);

    EngineOptions eo;
    eo.db_path = dir / "cat.db";
    eo.create_if_missing = true;
    eo.threads = 1;
    auto engine = Engine::open(eo);
    ASSERT_TRUE(engine) << engine.error().to_string();
    IndexOptions io;
    io.paths = {dir / "lib"};
    io.model = "toy-tone";
    auto report = (*engine)->index(io);
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_EQ(report->counts.added, 3u);
    EXPECT_TRUE(report->failures.empty());

    SearchRequest req;
    req.model = "toy-tone";
    req.k = 3;
    auto r = (*engine)->search_file(dir / "query.wav", req);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_EQ(r->results.size(), 3u);
    EXPECT_EQ(std::filesystem::path(r->results[0].path).filename(), "1000.wav");
    EXPECT_LT(r->results[0].distance, r->results[1].distance);

    bool listed = false;
    for (const auto& m : list_models({}))
        listed = listed || (m.name == "toy-tone" && m.weights_found && m.dim == int(kDim));
    EXPECT_TRUE(listed) << "`earshot models` lists a registered row";
}

}  // namespace
}  // namespace earshot
