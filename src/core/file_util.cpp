#include "core/file_util.h"

#include <cstdlib>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#ifndef EARSHOT_DEFAULT_SHARED_DIR
#define EARSHOT_DEFAULT_SHARED_DIR "../shared"
#endif

namespace earshot {
namespace fs = std::filesystem;

Result<std::vector<std::uint8_t>> read_file_bytes(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return make_error(ErrorCode::kNotFound, fmt::format("'{}': no such file", path.string()));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_error(ErrorCode::kIoError, fmt::format("'{}': cannot open", path.string()));
    }
    in.seekg(0, std::ios::end);
    auto size = static_cast<std::streamoff>(in.tellg());
    in.seekg(0, std::ios::beg);
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
        return make_error(ErrorCode::kIoError, fmt::format("'{}': read failed", path.string()));
    }
    return bytes;
}

Result<std::string> read_file_text(const fs::path& path) {
    EARSHOT_ASSIGN_OR_RETURN(auto bytes, read_file_bytes(path));
    return std::string(bytes.begin(), bytes.end());
}

Status write_file_atomic(const fs::path& path, std::string_view contents) {
    fs::path tmp = path;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) {
            return make_error(ErrorCode::kIoError,
                              fmt::format("'{}': cannot open for writing", tmp.string()));
        }
        out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
        if (!out) {
            return make_error(ErrorCode::kIoError, fmt::format("'{}': write failed", tmp.string()));
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        return make_error(ErrorCode::kIoError,
                          fmt::format("'{}': rename failed: {}", path.string(), ec.message()));
    }
    return ok_status();
}

namespace {
// XXH64, ref: https://github.com/Cyan4973/xxHash/blob/v0.8.1/doc/xxhash_spec.md (XXH64 section).
constexpr std::uint64_t kP1 = 11400714785074694791ULL;
constexpr std::uint64_t kP2 = 14029467366897019727ULL;
constexpr std::uint64_t kP3 = 1609587929392839161ULL;
constexpr std::uint64_t kP4 = 9650029242287828579ULL;
constexpr std::uint64_t kP5 = 2870177450012600261ULL;

inline std::uint64_t rotl(std::uint64_t x, int r) {
    return (x << r) | (x >> (64 - r));
}
inline std::uint64_t read64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
inline std::uint32_t read32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline std::uint64_t round64(std::uint64_t acc, std::uint64_t input) {
    acc += input * kP2;
    acc = rotl(acc, 31);
    return acc * kP1;
}
inline std::uint64_t merge_round(std::uint64_t acc, std::uint64_t val) {
    acc ^= round64(0, val);
    return acc * kP1 + kP4;
}

// Streaming XXH64 state.
struct Xxh64 {
    std::uint64_t v[4];
    std::uint64_t total = 0;
    std::uint8_t buf[32];
    std::size_t buf_size = 0;
    std::uint64_t seed;

    explicit Xxh64(std::uint64_t s) : seed(s) {
        v[0] = s + kP1 + kP2;
        v[1] = s + kP2;
        v[2] = s;
        v[3] = s - kP1;
    }
    void stripe(const std::uint8_t* p) {
        for (int i = 0; i < 4; ++i) v[i] = round64(v[i], read64(p + 8 * i));
    }
    void update(const std::uint8_t* p, std::size_t n) {
        total += n;
        if (buf_size + n < 32) {
            std::memcpy(buf + buf_size, p, n);
            buf_size += n;
            return;
        }
        if (buf_size > 0) {
            std::size_t fill = 32 - buf_size;
            std::memcpy(buf + buf_size, p, fill);
            stripe(buf);
            p += fill;
            n -= fill;
            buf_size = 0;
        }
        while (n >= 32) {
            stripe(p);
            p += 32;
            n -= 32;
        }
        std::memcpy(buf, p, n);
        buf_size = n;
    }
    std::uint64_t digest() const {
        std::uint64_t h;
        if (total >= 32) {
            h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18);
            for (auto x : v) h = merge_round(h, x);
        } else {
            h = seed + kP5;
        }
        h += total;
        const std::uint8_t* p = buf;
        std::size_t n = buf_size;
        while (n >= 8) {
            h ^= round64(0, read64(p));
            h = rotl(h, 27) * kP1 + kP4;
            p += 8;
            n -= 8;
        }
        if (n >= 4) {
            h ^= static_cast<std::uint64_t>(read32(p)) * kP1;
            h = rotl(h, 23) * kP2 + kP3;
            p += 4;
            n -= 4;
        }
        while (n > 0) {
            h ^= (*p) * kP5;
            h = rotl(h, 11) * kP1;
            ++p;
            --n;
        }
        h ^= h >> 33;
        h *= kP2;
        h ^= h >> 29;
        h *= kP3;
        h ^= h >> 32;
        return h;
    }
};
}  // namespace

std::uint64_t hash_bytes(const void* data, std::size_t size, std::uint64_t seed) {
    Xxh64 st(seed);
    st.update(static_cast<const std::uint8_t*>(data), size);
    return st.digest();
}

Result<std::string> hash_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::error_code ec;
        auto code = fs::exists(path, ec) ? ErrorCode::kIoError : ErrorCode::kNotFound;
        return make_error(code, fmt::format("'{}': cannot open", path.string()));
    }
    Xxh64 st(0);
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        auto got = in.gcount();
        if (got > 0)
            st.update(reinterpret_cast<const std::uint8_t*>(buf.data()),
                      static_cast<std::size_t>(got));
    }
    if (in.bad()) {
        return make_error(ErrorCode::kIoError, fmt::format("'{}': read failed", path.string()));
    }
    return fmt::format("{:016x}", st.digest());
}

fs::path shared_dir() {
    if (const char* env = std::getenv("EARSHOT_SHARED_DIR"); env != nullptr && *env != '\0') {
        return fs::path(env);
    }
    return fs::path(EARSHOT_DEFAULT_SHARED_DIR);
}

std::vector<fs::path> model_search_dirs(const fs::path& explicit_dir) {
    std::vector<fs::path> dirs;
    if (!explicit_dir.empty())
        dirs.push_back(explicit_dir);
    if (const char* env = std::getenv("EARSHOT_MODELS_DIR"); env != nullptr && *env != '\0') {
        dirs.emplace_back(env);
    }
    dirs.push_back(shared_dir() / "models");
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
        dirs.push_back(fs::path(xdg) / "earshot" / "models");
    } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
        dirs.push_back(fs::path(home) / ".local" / "share" / "earshot" / "models");
    }
    return dirs;
}

}  // namespace earshot
