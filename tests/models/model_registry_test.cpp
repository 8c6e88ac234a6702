#include "models/model_registry.h"

#include <cstdlib>
#include <string_view>

#include <gtest/gtest.h>

#include "test_support.h"
#include "tiny_torchscript.h"

namespace earshot {
namespace {

TEST(ModelRegistryTest, EveryRegisteredModelLoadsAndDescribesItself) {
    EARSHOT_REQUIRE_SHARED();
    for (const auto& kind : model_kinds()) {
        ModelOptions opts;
        opts.models_dir = testing::models_dir();
        auto m = make_model(kind.name, opts);
        // VGGish weights are not shipped in ../shared (vggish_model_test.cpp uses synthetic ones).
        if (std::string_view(kind.name) == "vggish" && !m &&
            m.error().code() == ErrorCode::kNotFound) {
            continue;
        }
        ASSERT_TRUE(m) << kind.name << ": " << m.error().to_string();
        EXPECT_EQ((*m)->info().name, kind.name);
        EXPECT_GT((*m)->info().dim, 0);
        EXPECT_GT((*m)->info().sample_rate_hz, 0);
    }
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
