// Helpers shared by all test executables: paths to ../shared, temporary directories, and
// small signal generators. Tests needing ../shared call EARSHOT_REQUIRE_SHARED() which fails
// (not skips) when it is missing, so CI cannot pass silently without the data.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

// 1 when built with AddressSanitizer (GCC defines __SANITIZE_ADDRESS__; clang 14 only answers
// __has_feature). ASan's quarantine of freed blocks inflates RSS, so RSS bounds hold only without
// it.
#if defined(__SANITIZE_ADDRESS__)
#define EARSHOT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EARSHOT_ASAN 1
#endif
#endif
#ifndef EARSHOT_ASAN
#define EARSHOT_ASAN 0
#endif

namespace earshot::testing {

// ../shared (from $EARSHOT_SHARED_DIR, set by CTest).
std::filesystem::path shared_dir();
std::filesystem::path models_dir();    // shared_dir()/models
std::filesystem::path datasets_dir();  // shared_dir()/datasets

// A fresh empty directory under the system temp dir, removed when the object dies.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// amplitude * sin(2π f t), n = duration_s * rate samples.
std::vector<float> make_sine(double freq_hz,
                             double duration_s,
                             int sample_rate_hz,
                             float amplitude = 0.5f);
// Gaussian white noise with a fixed seed.
std::vector<float> make_noise(double duration_s,
                              int sample_rate_hz,
                              float stddev = 0.1f,
                              unsigned seed = 1234);
// Writes a 16-bit PCM mono WAV (tiny fixtures generated at test time).
void write_wav16(const std::filesystem::path& path,
                 const std::vector<float>& samples,
                 int sample_rate_hz,
                 int channels = 1);

}  // namespace earshot::testing

#define EARSHOT_REQUIRE_SHARED()                                           \
    ASSERT_TRUE(std::filesystem::exists(::earshot::testing::models_dir())) \
        << "../shared not found at " << ::earshot::testing::shared_dir()   \
        << " (set EARSHOT_SHARED_DIR)"

namespace earshot::testing {
// Reads a 16-bit PCM WAV (the ../shared reference clips) as int16/32768 floats, channels
// averaged. Fails the current test (ADD_FAILURE) and returns empty on a malformed file.
std::vector<float> read_wav16(const std::filesystem::path& path, int* sample_rate_hz = nullptr);
}  // namespace earshot::testing
