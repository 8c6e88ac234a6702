// Shared by the libFuzzer targets: a per-process scratch folder (in /dev/shm when available, so
// that targets whose code under test reads a path do not hit the disk) and quiet logging.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "core/log.h"

namespace earshot::fuzz {

inline const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        std::filesystem::path base = std::filesystem::exists("/dev/shm")
                                         ? std::filesystem::path("/dev/shm")
                                         : std::filesystem::temp_directory_path();
        auto d = base / ("earshot-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(scratch_dir(), ec);
        });
        return d;
    }();
    return dir;
}

// Writes the input to scratch_dir()/name (replacing it) and returns the path.
inline std::filesystem::path write_scratch(const std::string& name,
                                           const std::uint8_t* data,
                                           std::size_t size) {
    auto p = scratch_dir() / name;
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    return p;
}

// Library code logs warnings for every bad input; a fuzzer would print millions of them.
inline void silence_logs() {
    static const bool once = [] {
        set_log_level(LogLevel::kError);
        return true;
    }();
    (void)once;
}

}  // namespace earshot::fuzz
