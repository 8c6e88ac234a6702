#include "test_support.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

namespace earshot::testing {
namespace fs = std::filesystem;

fs::path shared_dir() {
    if (const char* env = std::getenv("EARSHOT_SHARED_DIR"); env != nullptr && *env != '\0') {
        return fs::path(env);
    }
    return fs::path("../shared");
}
fs::path models_dir() {
    return shared_dir() / "models";
}
fs::path datasets_dir() {
    return shared_dir() / "datasets";
}

TempDir::TempDir() {
    static std::mt19937_64 rng(std::random_device{}());
    for (;;) {
        path_ = fs::temp_directory_path() / ("earshot-test-" + std::to_string(rng()));
        std::error_code ec;
        if (fs::create_directory(path_, ec))
            break;
    }
}
TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::vector<float> make_sine(double freq_hz,
                             double duration_s,
                             int sample_rate_hz,
                             float amplitude) {
    auto n = static_cast<std::size_t>(std::llround(duration_s * sample_rate_hz));
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) {
        x[i] = amplitude * static_cast<float>(std::sin(2.0 * M_PI * freq_hz *
                                                       static_cast<double>(i) / sample_rate_hz));
    }
    return x;
}

std::vector<float> make_noise(double duration_s, int sample_rate_hz, float stddev, unsigned seed) {
    auto n = static_cast<std::size_t>(std::llround(duration_s * sample_rate_hz));
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, stddev);
    std::vector<float> x(n);
    for (auto& v : x) v = std::clamp(dist(rng), -1.0f, 1.0f);
    return x;
}

namespace {
void put_u32(std::ofstream& out, std::uint32_t v) {
    out.write(reinterpret_cast<char*>(&v), 4);
}
void put_u16(std::ofstream& out, std::uint16_t v) {
    out.write(reinterpret_cast<char*>(&v), 2);
}
}  // namespace

void write_wav16(const fs::path& path,
                 const std::vector<float>& samples,
                 int sample_rate_hz,
                 int channels) {
    std::ofstream out(path, std::ios::binary);
    auto frames = static_cast<std::uint32_t>(samples.size());
    auto data_bytes = frames * 2u * static_cast<std::uint32_t>(channels);
    out.write("RIFF", 4);
    put_u32(out, 36 + data_bytes);
    out.write("WAVEfmt ", 8);
    put_u32(out, 16);
    put_u16(out, 1);
    put_u16(out, static_cast<std::uint16_t>(channels));
    put_u32(out, static_cast<std::uint32_t>(sample_rate_hz));
    put_u32(out, static_cast<std::uint32_t>(sample_rate_hz * channels * 2));
    put_u16(out, static_cast<std::uint16_t>(channels * 2));
    put_u16(out, 16);
    out.write("data", 4);
    put_u32(out, data_bytes);
    for (float s : samples) {
        auto v = static_cast<std::int16_t>(std::lround(std::clamp(s, -1.0f, 1.0f) * 32767.0f));
        for (int c = 0; c < channels; ++c) out.write(reinterpret_cast<char*>(&v), 2);
    }
}

}  // namespace earshot::testing

namespace earshot::testing {
std::vector<float> read_wav16(const std::filesystem::path& path, int* sample_rate_hz) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto u32 = [&](std::size_t o) {
        std::uint32_t v;
        std::memcpy(&v, bytes.data() + o, 4);
        return v;
    };
    auto u16 = [&](std::size_t o) {
        std::uint16_t v;
        std::memcpy(&v, bytes.data() + o, 2);
        return v;
    };
    if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0) {
        ADD_FAILURE() << path << ": not a RIFF file";
        return {};
    }
    int channels = 1, rate = 0, bits = 0;
    std::size_t pos = 12;
    while (pos + 8 <= bytes.size()) {
        std::uint32_t size = u32(pos + 4);
        if (std::memcmp(bytes.data() + pos, "fmt ", 4) == 0) {
            channels = u16(pos + 10);
            rate = static_cast<int>(u32(pos + 12));
            bits = u16(pos + 22);
        } else if (std::memcmp(bytes.data() + pos, "data", 4) == 0) {
            if (bits != 16) {
                ADD_FAILURE() << path << ": not 16-bit PCM";
                return {};
            }
            std::size_t frames = std::min<std::size_t>(size, bytes.size() - pos - 8) / 2 / channels;
            std::vector<float> out(frames);
            for (std::size_t i = 0; i < frames; ++i) {
                float acc = 0.0f;
                for (int c = 0; c < channels; ++c) {
                    std::int16_t v;
                    std::memcpy(&v, bytes.data() + pos + 8 + 2 * (i * channels + c), 2);
                    acc += static_cast<float>(v) / 32768.0f;
                }
                out[i] = acc / static_cast<float>(channels);
            }
            if (sample_rate_hz != nullptr)
                *sample_rate_hz = rate;
            return out;
        }
        pos += 8 + size + (size & 1);
    }
    ADD_FAILURE() << path << ": no data chunk";
    return {};
}
}  // namespace earshot::testing
