// NumPy .npy (format 1.0) headers for the float32 matrices we write (export, bench windows).
// Reading .npy lives with the importer (engine/importer.h), which accepts more dtypes.
#pragma once

#include <cstddef>
#include <string>

namespace earshot {

// Header of a little-endian float32 (rows, cols) C-order array, padded with spaces to a
// multiple of 64 bytes as the format recommends. For every 2-D shape that is exactly
// kNpyHeaderBytes, so a writer that learns the row count only at the end can write
// npy_f32_header(0, cols) first and overwrite it in place.
inline constexpr std::size_t kNpyHeaderBytes = 128;
std::string npy_f32_header(std::size_t rows, std::size_t cols);

}  // namespace earshot
