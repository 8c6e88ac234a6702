#include "core/npy.h"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

namespace earshot {

std::string npy_f32_header(std::size_t rows, std::size_t cols) {
    // magic (6) + version 1.0 (2) + little-endian header length (2) + dict + '\n'
    std::string dict =
        fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, cols);
    const std::size_t total = 10 + dict.size() + 1;
    dict += std::string((64 - total % 64) % 64, ' ');
    dict += '\n';
    std::string h = "\x93NUMPY";
    h += static_cast<char>(1);
    h += static_cast<char>(0);
    const auto len = static_cast<std::uint16_t>(dict.size());
    h += static_cast<char>(len & 0xff);
    h += static_cast<char>(len >> 8);
    return h + dict;
}

Result<NpyMatrix> read_npy_matrix(std::istream& in, std::uint64_t size, const std::string& source) {
    auto fail = [&](const std::string& what) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("'{}' is not a supported .npy file: {}", source, what));
    };
    char magic[8] = {};
    in.read(magic, 8);
    if (in.gcount() != 8 || std::memcmp(magic, "\x93NUMPY", 6) != 0)
        return fail("bad magic");
    std::uint32_t header_len = 0;
    std::uint64_t prefix = 8;  // magic, version, header length
    if (magic[6] == 1) {
        std::uint16_t h = 0;
        in.read(reinterpret_cast<char*>(&h), 2);
        header_len = h;
        prefix += 2;
    } else {
        in.read(reinterpret_cast<char*>(&header_len), 4);
        prefix += 4;
    }
    if (!in || header_len > 65536)
        return fail("bad header length");
    std::string header(header_len, '\0');
    in.read(header.data(), header_len);
    if (static_cast<std::uint32_t>(in.gcount()) != header_len)
        return fail("truncated header");
    auto value_of = [&](const std::string& key) -> std::string {
        auto k = header.find("'" + key + "'");
        if (k == std::string::npos)
            return "";
        auto colon = header.find(':', k);
        if (colon == std::string::npos)
            return "";
        auto start = header.find_first_not_of(' ', colon + 1);
        if (start == std::string::npos)
            return "";
        const char open = header[start];
        const char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
        auto end = header.find(close, start + 1);
        if (end == std::string::npos)
            return "";
        return header.substr(start, end - start + 1);
    };
    const std::string descr = value_of("descr");
    const bool f4 = descr == "'<f4'";
    const bool f8 = descr == "'<f8'";
    if (!f4 && !f8)
        return fail("dtype " + descr + " (supported: '<f4', '<f8')");
    if (value_of("fortran_order").rfind("False", 0) != 0)
        return fail("fortran_order must be False");
    const std::string shape = value_of("shape");
    std::size_t dims[2] = {0, 0};
    int n_dims = 0;
    for (std::size_t i = 0; i < shape.size() && n_dims <= 2;) {
        if (std::isdigit(static_cast<unsigned char>(shape[i]))) {
            std::size_t v = 0;
            auto [p, ec] = std::from_chars(shape.data() + i, shape.data() + shape.size(), v);
            if (ec != std::errc() || n_dims == 2)
                return fail("shape " + shape);
            dims[n_dims++] = v;
            i = static_cast<std::size_t>(p - shape.data());
        } else {
            ++i;
        }
    }
    if (n_dims != 2 || dims[0] == 0 || dims[1] == 0 || dims[1] > 65536)
        return fail("shape " + shape + " (expected (n, d))");
    const std::size_t elem = f4 ? 4 : 8;
    // rows * cols * elem can overflow: compare with the bytes after the header by division.
    const std::uint64_t data_bytes = size > prefix + header_len ? size - prefix - header_len : 0;
    if (dims[0] > data_bytes / elem / dims[1]) {
        return fail(
            fmt::format("truncated data (shape {} needs more than the {} bytes after the "
                        "header)",
                        shape, data_bytes));
    }
    NpyMatrix a;
    a.rows = dims[0];
    a.cols = dims[1];
    const std::size_t n = a.rows * a.cols;
    a.data.resize(n);
    if (f4) {
        in.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(n * 4));
    } else {
        std::vector<double> tmp(n);
        in.read(reinterpret_cast<char*>(tmp.data()), static_cast<std::streamsize>(n * 8));
        for (std::size_t i = 0; i < n; ++i) a.data[i] = static_cast<float>(tmp[i]);
    }
    if (!in)
        return fail("truncated data");
    return a;
}

Result<NpyMatrix> read_npy_matrix(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(ErrorCode::kIoError, fmt::format("cannot read '{}'", path.string()));
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec)
        return make_error(ErrorCode::kIoError,
                          fmt::format("cannot read '{}': {}", path.string(), ec.message()));
    return read_npy_matrix(in, size, path.string());
}

}  // namespace earshot
