#include "models/model_registry.h"

#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "models/detail/trained_networks.h"
#include "models/model_factories.h"
#include "models/trained_models.h"
#include "test_support.h"
#include "tiny_torchscript.h"

namespace earshot {
namespace {

// Fixture files for the prefixed kinds (random weights): a spec that loads through the registry.
using PathFixture = std::string (*)(const std::filesystem::path& dir);

TrainedModelCard tiny_trained_card(const std::string& kind, int dim) {
    TrainedModelCard card;
    card.kind = kind;
    card.name = kind + "-registry-test";
    card.dim = dim;
    card.input.excerpt_s = 0.5;
    card.input.n_frames = 16;
    card.input.frontend = make_excerpt_frontend(0.5, 16, 16);
    card.channels = 4;
    return card;
}

std::string write_tiny_ae(const std::filesystem::path& dir) {
    detail::ConvAutoencoder net(16, 16, 4, 8);
    EXPECT_TRUE(detail::save_trained_module(dir / "ae.st", tiny_trained_card("ae", 8), *net));
    return "ae:" + (dir / "ae.st").string();
}

std::string write_tiny_siamese(const std::filesystem::path& dir) {
    detail::SiameseNet net(16, 4, 8);
    EXPECT_TRUE(detail::save_trained_module(dir / "s.st", tiny_trained_card("siamese", 8), *net));
    return "siamese:" + (dir / "s.st").string();
}

std::string write_tiny_projection(const std::filesystem::path& dir) {
    auto card = tiny_trained_card("proj", 16);
    card.base_model = "mfcc";  // weight-free, 90-d
    card.base_dim = 90;
    detail::ProjectionHead head(90, 16);
    EXPECT_TRUE(detail::save_trained_module(dir / "p.st", card, *head));
    return "proj:" + (dir / "p.st").string();
}

const std::map<std::string, PathFixture, std::less<>> kPathFixtures = {
    {"torchscript",
     [](const std::filesystem::path& dir) {
         return "torchscript:" + testing::write_tiny_torchscript(dir).string();
     }},
    {"ae", &write_tiny_ae},
    {"siamese", &write_tiny_siamese},
    {"proj", &write_tiny_projection},
};

// Every registered kind loads and embeds a short clip: built-in ones from ../shared, prefixed
// ones from a fixture file above. A new row is tested the moment it is registered.
TEST(ModelRegistryTest, EveryRegisteredModelLoadsAndEmbedsAClip) {
    EARSHOT_REQUIRE_SHARED();
    testing::TempDir dir;
    std::vector<std::string> skipped;
    for (const auto& kind : model_kinds()) {
        SCOPED_TRACE(kind.name);
        std::string spec = kind.name;
        if (kind.takes_path) {
            auto it = kPathFixtures.find(kind.name);
            ASSERT_NE(it, kPathFixtures.end())
                << "prefixed model kind '" << kind.name
                << "' has no fixture: add one to kPathFixtures in this file";
            spec = it->second(dir.path());
        }
        ModelOptions opts;
        opts.models_dir = testing::models_dir();
        opts.threads = 1;
        auto m = make_model(spec, opts);
        // VGGish weights are not shipped in ../shared (vggish_model_test.cpp uses synthetic ones).
        if (std::string_view(kind.name) == "vggish" && !m &&
            m.error().code() == ErrorCode::kNotFound) {
            skipped.push_back("vggish: weights not in ../shared (tools/convert_vggish.py)");
            continue;
        }
        ASSERT_TRUE(m) << spec << ": " << m.error().to_string();
        const ModelInfo& info = (*m)->info();
        if (!kind.takes_path) {
            EXPECT_EQ(info.name, kind.name);
        }
        EXPECT_FALSE(info.name.empty());
        EXPECT_GT(info.dim, 0);
        ASSERT_GT(info.sample_rate_hz, 0);
        auto e = (*m)->embed(testing::make_sine(440.0, 1.0, info.sample_rate_hz));
        ASSERT_TRUE(e) << spec << ": " << e.error().to_string();
        ASSERT_GE(e->segments.n_rows, 1u);
        EXPECT_EQ(e->segments.n_cols, static_cast<std::size_t>(info.dim));
        EXPECT_EQ(e->start_s.size(), e->segments.n_rows);
        for (float v : e->segments.data) ASSERT_TRUE(std::isfinite(v)) << spec;
    }
    for (const auto& s : skipped) std::cout << "[ SKIPPED  ] " << s << "\n";
}

TEST(ModelRegistryTest, EachRowIsFoundByItsSpecAndListedInTheHelp) {
    const std::string names = model_names();
    int defaults = 0;
    for (const auto& kind : model_kinds()) {
        const std::string spec =
            kind.takes_path ? std::string(kind.name) + ":/x/model" : std::string(kind.name);
        EXPECT_EQ(find_model_kind(spec), &kind) << spec;
        EXPECT_NE(names.find(kind.takes_path ? std::string(kind.name) + ":PATH" : kind.name),
                  std::string::npos)
            << names;
        EXPECT_NE(std::string_view(kind.description), "") << kind.name;
        defaults += kind.is_default ? 1 : 0;
    }
    EXPECT_EQ(defaults, 1);
    EXPECT_STREQ(default_model_name(), "mn04");
    EXPECT_EQ(find_model_kind("torchscript"), nullptr) << "a prefixed kind needs its PATH";
    EXPECT_EQ(find_model_kind("mn04:/x"), nullptr) << "a named kind takes no PATH";
}

TEST(ModelRegistryTest, RegisteringADuplicateOrNamelessRowFails) {
    ModelKind dup{.name = "mn04", .factory = kMfccModelKind.factory};
    auto r = register_model_kind(dup);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), ErrorCode::kAlreadyExists);
    ModelKind colon{.name = "a:b", .factory = kMfccModelKind.factory};
    ASSERT_FALSE(register_model_kind(colon));
    ModelKind no_factory{.name = "nofactory"};
    ASSERT_FALSE(register_model_kind(no_factory));
}

TEST(ModelRegistryTest, UnknownModelListsTheKnownOnes) {
    auto m = make_model("vggish-but-not-really", {});
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::kInvalidArgument);
    for (const auto& kind : model_kinds()) {
        EXPECT_NE(m.error().message().find(kind.name), std::string::npos) << m.error().message();
    }
    auto bad_kind = make_model("onnx:/tmp/x.onnx", {});
    ASSERT_FALSE(bad_kind);
    EXPECT_EQ(bad_kind.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ModelRegistryTest, MissingWeightsNameEveryPlaceLookedIn) {
    testing::TempDir empty;
    setenv("EARSHOT_MODELS_DIR", (empty / "env").c_str(), 1);
    setenv("EARSHOT_SHARED_DIR", (empty / "shared").c_str(), 1);
    ModelOptions opts;
    opts.models_dir = empty / "flag";
    auto m = make_model("yamnet", opts);
    unsetenv("EARSHOT_MODELS_DIR");
    setenv("EARSHOT_SHARED_DIR", testing::shared_dir().c_str(), 1);
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code(), ErrorCode::kNotFound);
    const auto& msg = m.error().message();
    EXPECT_NE(msg.find((empty / "flag").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find((empty / "env").string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("--models-dir"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one-line error";
}

TEST(ModelRegistryTest, TorchscriptPathGoesThroughTheRegistry) {
    testing::TempDir dir;
    auto m = make_model("torchscript:" + testing::write_tiny_torchscript(dir.path()).string(), {});
    ASSERT_TRUE(m) << m.error().to_string();
    EXPECT_GT((*m)->info().dim, 0);
    auto missing = make_model("torchscript:/nonexistent/model.pt", {});
    ASSERT_FALSE(missing);
}

}  // namespace
}  // namespace earshot
