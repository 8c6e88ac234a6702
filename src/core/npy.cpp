#include "core/npy.h"

#include <cstdint>

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

}  // namespace earshot
