// WAV files the tests need and test_support.h does not write: IEEE-float samples (which can hold
// NaN/Inf) and headers that claim any sample rate.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace earshot::testing {

inline void put_le(std::string& s, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// format 3: 32-bit IEEE float; format 1: 16-bit PCM (samples clamped to [-1, 1]). Mono.
inline void write_wav_raw(const std::filesystem::path& path,
                          const std::vector<float>& samples,
                          int sample_rate_hz,
                          int format = 3) {
    const int bits = format == 1 ? 16 : 32;
    std::string data;
    for (float x : samples) {
        if (format == 1) {
            const float c = x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x);
            put_le(data, static_cast<std::uint16_t>(static_cast<std::int16_t>(c * 32767.0f)), 2);
        } else {
            std::uint32_t u = 0;
            std::memcpy(&u, &x, 4);
            put_le(data, u, 4);
        }
    }
    std::string s = "RIFF";
    put_le(s, 36 + data.size(), 4);
    s += "WAVEfmt ";
    put_le(s, 16, 4);
    put_le(s, static_cast<std::uint64_t>(format), 2);
    put_le(s, 1, 2);
    put_le(s, static_cast<std::uint64_t>(sample_rate_hz), 4);
    put_le(s, static_cast<std::uint64_t>(sample_rate_hz) * bits / 8, 4);
    put_le(s, static_cast<std::uint64_t>(bits / 8), 2);
    put_le(s, static_cast<std::uint64_t>(bits), 2);
    s += "data";
    put_le(s, data.size(), 4);
    s += data;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

}  // namespace earshot::testing
