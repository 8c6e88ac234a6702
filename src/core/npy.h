// NumPy .npy: headers (format 1.0) for the float32 matrices we write (export, bench windows), and
// the reader of (n, d) float32/float64 matrices the importer uses (engine/importer.h).
// Matrix layout: rows × cols row-major, row i column j at data[i * cols + j].
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <istream>
#include <string>
#include <vector>

#include "core/status.h"

namespace earshot {

// Header of a little-endian float32 (rows, cols) C-order array, padded with spaces to a
// multiple of 64 bytes as the format recommends. For every 2-D shape that is exactly
// kNpyHeaderBytes, so a writer that learns the row count only at the end can write
// npy_f32_header(0, cols) first and overwrite it in place.
inline constexpr std::size_t kNpyHeaderBytes = 128;
std::string npy_f32_header(std::size_t rows, std::size_t cols);

struct NpyMatrix {
    std::size_t rows = 0;
    std::size_t cols = 0;
    std::vector<float> data;  // rows * cols values (float64 files are narrowed)
};

// Reads a little-endian '<f4' or '<f8', C-order, 2-D (rows >= 1, 1 <= cols <= 65536) array in
// .npy format (1.0: 2-byte header length; later: 4-byte) from `in`, which holds `size` bytes from
// its current position (a file or core/memory_stream.h). Nothing is allocated beyond what `size`
// can hold. kInvalidArgument
// "'<source>' is not a supported .npy file: <why>" for anything else or a truncated file.
Result<NpyMatrix> read_npy_matrix(std::istream& in, std::uint64_t size, const std::string& source);
// The same on a file: kIoError if it cannot be read; errors name the path.
Result<NpyMatrix> read_npy_matrix(const std::filesystem::path& path);

}  // namespace earshot
