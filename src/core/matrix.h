// A dense float32 matrix, n_rows × n_cols, row-major: element (i, j) at data[i * n_cols + j].
// The common currency between modules (embeddings, log-mel frames, scores). Not thread-safe for
// concurrent writes; concurrent reads are fine.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace earshot {

struct Matrix {
    std::size_t n_rows = 0;
    std::size_t n_cols = 0;
    std::vector<float> data;  // size n_rows * n_cols

    Matrix() = default;
    Matrix(std::size_t rows, std::size_t cols, float fill = 0.0f)
        : n_rows(rows), n_cols(cols), data(rows * cols, fill) {}

    bool empty() const { return n_rows == 0 || n_cols == 0; }
    float* row(std::size_t i) { return data.data() + i * n_cols; }
    const float* row(std::size_t i) const { return data.data() + i * n_cols; }
    std::span<const float> row_span(std::size_t i) const { return {row(i), n_cols}; }
    float& at(std::size_t i, std::size_t j) { return data[i * n_cols + j]; }
    float at(std::size_t i, std::size_t j) const { return data[i * n_cols + j]; }
};

}  // namespace earshot
